"""Import contracts (DESIGN.md): only studio/ui imports gradio; nothing below the UI imports the UI; heavy libraries
are imported inside the functions that need them, so the app starts fast; the training worker never loads gradio."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / "studio"
HEAVY = {"torch", "transformers", "trl", "peft", "datasets", "bitsandbytes", "accelerate"}
# modules that only ever run inside a job's child process, where the heavy imports are the point
HEAVY_AT_TOP_ALLOWED = {"studio/train/callbacks.py"}


def imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def modules():
    return [(p, p.relative_to(ROOT).as_posix()) for p in sorted(STUDIO.rglob("*.py"))]


def test_only_the_ui_imports_gradio_and_nothing_below_imports_the_ui():
    for path, rel in modules():
        if rel.startswith("studio/ui/"):
            continue
        names = imports(path, top_level_only=False)
        assert not any(n.split(".")[0] == "gradio" for n in names), f"{rel} imports gradio"
        assert not any(n.startswith("studio.ui") for n in names), f"{rel} imports the UI"


def test_heavy_libraries_are_imported_where_they_are_used():
    for path, rel in modules():
        if rel in HEAVY_AT_TOP_ALLOWED:
            continue
        heavy = {n.split(".")[0] for n in imports(path, top_level_only=True)} & HEAVY
        assert not heavy, f"{rel} imports {sorted(heavy)} at module level: import inside the function that needs it"


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_the_app_starts_without_torch_and_the_worker_without_gradio():
    assert "torch" not in loaded_after("import studio.ui.app")
    assert "gradio" not in loaded_after("import studio.train.worker")
    assert not loaded_after("import studio.__main__") & (HEAVY | {"gradio"})  # the CLI's --help is instant
