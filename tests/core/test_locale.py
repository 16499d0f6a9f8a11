"""One table of text in two languages: same keys, same placeholders, every key the code names exists, and no
user-facing sentence is built from an English literal outside the table."""
import ast
import re
import string
from pathlib import Path

from studio.locale import EN, JA, T, format_rows, lang_of, tr

STUDIO = Path(__file__).resolve().parents[2] / "studio"
KEY_CALLS = {"T", "tr", "Text", "StudioError", "ConflictError", "i18n"}


def fields(template: str) -> set[str]:
    return {f[1].split("!")[0].split(":")[0] for f in string.Formatter().parse(template) if f[1] is not None}


def test_both_languages_have_the_same_keys_and_placeholders():
    assert set(EN) == set(JA)
    for key in EN:
        assert fields(EN[key]) == fields(JA[key]), key
        assert EN[key].strip() or key in ("mem.end",), key
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    def has_words(template: str) -> bool:  # 'Persona Studio' and '{code} ({rows}): {message}' need no translation
        return bool(re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", re.sub(r"\{[^}]*\}", "", template)))
    same = [k for k in EN if not japanese.search(JA[k]) and has_words(EN[k]) and k != "app.title"]
    assert not same, f"untranslated: {same}"


def test_rendering_in_both_languages():
    assert tr("ja", "v.empty_answer", where=format_rows([7], "ja")) == "7行目: 回答が空です。"
    assert tr("en", "v.empty_answer", where=format_rows([3, 5], "en")) == "rows 3, 5: answer is empty."
    assert str(T("persona.saved", time="12:00:00", rows=3)) == "Saved at 12:00:00: 3 rows."
    assert tr("ja-JP", "persona.saved", time="12:00:00", rows=3) == "12:00:00 に保存しました: 3行。"
    assert lang_of("ja,en;q=0.8") == "ja" and lang_of("fr") == "en" and lang_of(None) == "en"
    assert tr("ja", "a message no table has") == "a message no table has"  # a library's own text stays as is


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            yield name, node


def _key_arg(name: str, node: ast.Call):
    args = node.args[1:] if name == "tr" else node.args
    return args[0] if args else None


def test_every_key_the_code_names_exists_and_errors_name_keys():
    problems = []
    for path in STUDIO.rglob("*.py"):
        if "locale" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, node in _calls(tree):
            if name not in KEY_CALLS:
                continue
            arg = _key_arg(name, node)
            where = f"{path.relative_to(STUDIO.parent)}:{node.lineno}"
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value not in EN:
                    problems.append(f"{where}: {name}({arg.value!r}) names no message")
            elif isinstance(arg, ast.JoinedStr):  # f"state.{...}": some key must start with the fixed part
                head = "".join(v.value for v in arg.values[:1] if isinstance(v, ast.Constant))
                if not any(k.startswith(head) for k in EN):
                    problems.append(f"{where}: no message starts with {head!r}")
            elif name in ("StudioError", "ConflictError"):
                problems.append(f"{where}: {name} needs a message key, not {ast.unparse(arg)[:60]}")
            if name in ("StudioError", "ConflictError", "T") and any(k.arg == "key" for k in node.keywords):
                problems.append(f"{where}: {name}(..., key=...) clashes with the message key; rename the param")
    assert not problems, "\n".join(problems)


def test_findings_are_built_from_keys():
    for path in STUDIO.rglob("*.py"):
        if path.name == "findings.py":
            continue
        for name, node in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            assert name != "Finding", f"{path.name}:{node.lineno}: use Finding.of(code, severity, T(...), T(...))"


SENTENCE = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}")
# not messages: switch label (both languages), code, CSS and JS
ALLOWED = ("Language / 言語", "performance.getEntriesByType", "display:flex", "background:#eee")


def test_the_ui_builds_no_sentence_from_an_english_literal():
    problems = []
    for path in (STUDIO / "ui").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if SENTENCE.search(node.value) and not any(a in node.value for a in ALLOWED):
                    problems.append(f"{path.name}:{node.lineno}: {node.value[:70]!r}")
    assert not problems, "\n".join(problems)


def test_error_keys_say_what_went_wrong():
    """err.import.no_question_column, not err.importers.19: a key names the failure, once."""
    import re

    from studio.locale import CATALOGS
    numbered = sorted(k for k in CATALOGS["en"] if re.search(r"\.\d+$", k))
    assert not numbered, numbered
    messages = {}
    for key, text in CATALOGS["en"].items():
        if key.startswith("err."):
            assert text not in messages, f"{key} repeats {messages.get(text)}"
            messages[text] = key
