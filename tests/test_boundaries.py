"""Import contracts (DESIGN.md): the packages form layers (each imports only the layers below it, with no loops between
modules); only studio/ui imports gradio; heavy libraries are imported inside the functions that need them, so the
app starts fast; the training worker never loads gradio; at most 8 modules sit loose at the top of studio/."""
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


# Each package and the packages it may import. Serving, evaluation and export never import training; the job
# launcher imports none of the work it launches (studio/cli/tasks.py names the work by kind).
BELOW = {
    "locale": set(),
    "core": {"locale"},
    "data": {"core", "locale"},
    "format": {"core", "data", "jobs", "locale"},   # jobs: the run layout's file names (contract.json)
    "jobs": {"core", "locale"},
    "serve": {"core", "data", "format", "jobs", "locale"},
    "eval": {"core", "data", "format", "jobs", "locale", "serve"},
    "export": {"core", "data", "eval", "format", "jobs", "locale", "serve"},
    "train": {"core", "data", "eval", "export", "format", "jobs", "locale", "serve"},  # export: model cards
    "tiny": {"core"},
    "__init__": set(),
    "cli": {"core", "data", "eval", "export", "format", "jobs", "locale", "serve", "train"},
    "__main__": {"cli"},
    "ui": {"core", "data", "eval", "export", "format", "jobs", "locale", "serve", "train"},
}


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def studio_imports(path: Path) -> set[str]:
    """The studio modules this file imports anywhere in it (inside functions too: a loop there is still a loop)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("studio.") and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("studio.")}
    return found


def test_each_package_imports_only_the_layers_below_it():
    for path, rel in modules():
        parts = path.relative_to(STUDIO).parts
        package = parts[0].removesuffix(".py")
        assert package in BELOW, f"{rel}: a new package or loose module; give it a layer in BELOW"
        for name in studio_imports(path):
            target = name.split(".")[1]
            assert target == package or target in BELOW[package], f"{rel} imports {name}: {package} may import " \
                f"only {sorted(BELOW[package])}"


def find_loop(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop in the graph (as a list of modules, first == last), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            loop = visit(nxt, path + [node])
            if loop:
                return loop
        done.add(node)
        return None

    return next((loop for node in sorted(graph) if (loop := visit(node, []))), None)


def test_no_import_loops_between_modules():
    names = {module_name(p) for p, _ in modules()}
    graph = {module_name(p): {n for n in studio_imports(p) if n in names} - {module_name(p)} for p, _ in modules()}
    loop = find_loop(graph)
    assert loop is None, "import loop: " + " -> ".join(loop)


def test_the_top_of_the_package_stays_small():
    loose = sorted(p.name for p in STUDIO.glob("*.py"))
    assert len(loose) <= 8, f"{len(loose)} modules loose at the top of studio/: {loose}"


def test_the_loop_check_finds_a_loop():
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_loop({"a": {"b"}, "b": set()}) is None
