"""Read Q&A pairs from CSV/TSV, Excel (.xlsx), JSONL (several shapes) and SillyTavern character cards. No torch,
no gradio.

Every failure is a StudioError that names the file (and line or column) and says what to do.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import StudioError
from studio.data.cards import card_from_json, card_from_png
from studio.data.csv_cells import MAX_CELL_CHARS, allow_long_cells, restore
from studio.data.persona import QAPair
from studio.data.xlsx import OLD_EXCEL_SUFFIXES, XLSX_SUFFIXES, read_xlsx
from studio.locale import T, Text

MAX_IMPORT_BYTES = 20 * 1024 * 1024
TEXT_SUFFIXES = (".txt", ".md", "")  # one item per line (probe questions), not a table
# What each reader takes, by suffix (a .txt, .md or a name without one is read as CSV; anything else is refused
# with a message naming the kinds that are read: the upload boxes take any file, so no English toast of gradio's)
CARD_SUFFIXES = (".png",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
TSV_SUFFIXES = (".tsv", ".tab")
TABLE_SUFFIXES = (".csv", *TSV_SUFFIXES, *JSONL_SUFFIXES, *JSON_SUFFIXES, *XLSX_SUFFIXES)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # an old .xls (or .doc) however it is named
PERSONA_SUFFIXES = (*TABLE_SUFFIXES, *CARD_SUFFIXES)      # rows for the Persona tab
QUESTION_SUFFIXES = (".txt", *TABLE_SUFFIXES)             # questions (drafting, evaluation prompts)

ALIASES = {
    "question": ("question", "q", "instruction", "prompt", "input", "user", "query", "質問", "入力"),
    "answer": ("answer", "a", "output", "response", "completion", "assistant", "reply", "回答", "応答", "出力"),
    "context": ("context", "reference", "notes", "参考情報", "参考"),
    "dialog_id": ("dialog_id", "dialogue_id", "conversation_id", "conv_id", "dialog"),
    "drafted": ("drafted", "下書き"),
}
USER_ROLES = {"user", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "bot", "model", "chatgpt"}


@dataclass
class ImportResult:
    pairs: list[QAPair]
    source_format: str
    name: str | None = None            # filled by character cards
    system_prompt: str | None = None   # from a card or a system message
    notes: str | None = None
    warnings: list[Text] = field(default_factory=list)


def import_file(path: str | Path, need_answer: bool = True) -> ImportResult:
    """Read any supported file. Raises StudioError with a message for the user. With need_answer=False (probe
    questions) a file without an answer column is read with empty answers."""
    path = Path(path)
    if not path.exists():
        raise StudioError("err.import.no_file", path=path)
    if path.is_dir():
        raise StudioError("err.import.is_folder", path=path)
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise StudioError("err.import.too_big", name=path.name, size=size / 2**20,
                          max_import_bytes=MAX_IMPORT_BYTES // 2**20)
    if size == 0:
        raise StudioError("err.import.empty", name=path.name)
    suffix = path.suffix.lower()
    raw = path.read_bytes()
    if suffix in CARD_SUFFIXES:
        return _card_result(card_from_png(raw, path.name))
    if suffix in XLSX_SUFFIXES:
        return import_xlsx(raw, path.name, need_answer)
    if suffix in OLD_EXCEL_SUFFIXES or raw.startswith(OLE_MAGIC):
        raise StudioError("err.xlsx.old_excel", name=path.name)
    if suffix not in (*TABLE_SUFFIXES, *TEXT_SUFFIXES):
        raise StudioError("err.import.unknown_kind", name=path.name, suffix=suffix)
    if raw.startswith(b"PK\x03\x04"):
        raise StudioError("err.import.zip_named", name=path.name)
    text, encoding = decode_bytes(raw, path.name)
    if suffix in JSONL_SUFFIXES:
        result = import_jsonl(text, path.name, need_answer)
    elif suffix in JSON_SUFFIXES:
        result = import_json(text, path.name, need_answer)
    else:
        result = import_table(text, path.name, delimiter="\t" if suffix in TSV_SUFFIXES else None,
                              need_answer=need_answer)
    if encoding != "utf-8":
        result.warnings.append(T("w.read_as", name=path.name, encoding=encoding.upper()))
    return result


def decode_bytes(raw: bytes, name: str) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with BOM, then CP932. Newlines are normalised to \\n.

    A file that is almost all valid UTF-8 is refused rather than read as CP932: a single bad byte would otherwise
    turn every Japanese character into mojibake, and the next save would write that back."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _normalise_newlines(raw.decode("utf-16")), "utf-16"
    try:
        return _normalise_newlines(raw.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as e:
        first = e
    high = sum(b >= 0x80 for b in raw)
    bad = raw.decode("utf-8", errors="replace").count("\ufffd")
    if bad * 4 <= high:   # most non-ASCII bytes form valid UTF-8 (in CP932 text almost none do): damaged UTF-8
        line = raw.count(b"\n", 0, first.start) + 1
        raise StudioError("err.importers.bad_utf8", name=name, bad=bad, line=line, byte=first.start,
                          value=f"0x{raw[first.start]:02x}")
    try:
        return _normalise_newlines(raw.decode("cp932")), "cp932"
    except UnicodeDecodeError as e:
        raise StudioError("err.import.undecodable", name=name, utf8_at=first.start,
                          utf8_value=f"0x{raw[first.start]:02x}", cp932_at=e.start,
                          cp932_value=f"0x{raw[e.start]:02x}") from None


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def import_table(text: str, name: str, delimiter: str | None = None, allow_empty: bool = False,
                 need_answer: bool = True) -> ImportResult:
    """CSV or TSV with a header row. The delimiter is guessed from the header when not given."""
    if not text.strip():
        raise StudioError("err.import.empty", name=name)
    header_line = text.split("\n", 1)[0]
    if delimiter is None:
        delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
    allow_long_cells()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [[restore(c) for c in r] for r in reader]
    except csv.Error as e:
        raise StudioError("err.import.bad_quotes", name=name, line_num=reader.line_num, reason=e) from None
    return _rows_result(rows, name, "tsv" if delimiter == "\t" else "csv", allow_empty, need_answer)


def _rows_result(rows: list[list[str]], name: str, fmt: str, allow_empty: bool = False,
                 need_answer: bool = True) -> ImportResult:
    """A table's rows (the first is the header) as pairs."""
    header, body = rows[0], [r for r in rows[1:] if any(cell.strip() for cell in r)]
    mapping = map_columns(header, name, need_answer)
    if not body and not allow_empty:
        raise StudioError("err.import.header_only", name=name)
    pairs = [_pair_from_record(dict(zip(header, r)), mapping) for r in body]
    return ImportResult(pairs=check_cell_sizes(pairs, name), source_format=fmt)


def import_xlsx(raw: bytes, name: str, need_answer: bool = True) -> ImportResult:
    """The first sheet of an Excel workbook, its first non-blank row the header (as in a CSV)."""
    rows, sheets = read_xlsx(raw, name)
    result = _rows_result(rows, name, "xlsx", need_answer=need_answer)
    if sheets > 1:
        result.warnings.append(T("w.xlsx_first_sheet", name=name, sheets=sheets))
    return result


def check_cell_sizes(pairs: list[QAPair], name: str) -> list[QAPair]:
    """Refuse a cell longer than MAX_CELL_CHARS, naming its row and column (1 = the first pair)."""
    for n, p in enumerate(pairs, start=1):
        for column, value in (("question", p.question), ("answer", p.answer), ("context", p.context),
                              ("dialog_id", p.dialog_id), ("drafted", p.drafted)):
            if len(value) > MAX_CELL_CHARS:
                raise StudioError("err.importers.cell_size", name=name, row=n, column=column, size=len(value),
                                  max=MAX_CELL_CHARS)
    return pairs


def map_columns(columns: list[str], name: str, need_answer: bool = True) -> dict[str, str | tuple[str, str]]:
    """Map our fields to the file's column names; alpaca's instruction+input fold into the question."""
    norm = {c.strip().lstrip("\ufeff").lower(): c for c in columns}
    mapping: dict[str, str | tuple[str, str]] = {}
    for target, aliases in ALIASES.items():
        for alias in aliases:
            if alias in norm and norm[alias] not in mapping.values():
                mapping[target] = norm[alias]
                break
    if "instruction" in norm and "input" in norm:
        mapping["question"] = (norm["instruction"], norm["input"])
    if "question" not in mapping or need_answer and "answer" not in mapping:
        found = ", ".join(repr(c) for c in columns) or "none"
        if not need_answer:
            raise StudioError("err.import.no_question_column", name=name, found=found)
        raise StudioError("err.import.no_qa_columns", name=name, found=found)
    return mapping


def _cell(record: dict, key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    return _normalise_newlines(value)


def _pair_from_record(record: dict, mapping: dict) -> QAPair:
    q = mapping["question"]
    if isinstance(q, tuple):
        instruction, extra = _cell(record, q[0]), _cell(record, q[1])
        question = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    else:
        question = _cell(record, q)
    return QAPair(question=question, answer=_cell(record, mapping["answer"]) if "answer" in mapping else "",
                  context=_cell(record, mapping["context"]) if "context" in mapping else "",
                  dialog_id=_cell(record, mapping["dialog_id"]).strip() if "dialog_id" in mapping else "",
                  drafted=_cell(record, mapping["drafted"]).strip() if "drafted" in mapping else "")


def import_jsonl(text: str, name: str, need_answer: bool = True) -> ImportResult:
    records = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise StudioError("err.import.bad_json_line", name=name, lineno=lineno, msg=e.msg, colno=e.colno) from None
        except RecursionError:
            raise StudioError("err.importers.too_deep", name=name, where=f" line {lineno}") from None
        if not isinstance(obj, dict):
            raise StudioError("err.import.line_not_object", name=name, lineno=lineno, type=type(obj).__name__)
        records.append((lineno, obj))
    if not records:
        raise StudioError("err.import.empty", name=name)
    return _import_records(records, name, "jsonl", need_answer)


def import_json(text: str, name: str, need_answer: bool = True) -> ImportResult:
    """A .json file: a character card, or a list of records in any JSONL shape."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise StudioError("err.import.bad_json", name=name, msg=e.msg, lineno=e.lineno, colno=e.colno) from None
    except RecursionError:
        raise StudioError("err.importers.too_deep", name=name, where="") from None
    if isinstance(obj, dict) and ("spec" in obj or "first_mes" in obj or "mes_example" in obj):
        return _card_result(card_from_json(obj, name))
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        obj = obj["data"]
    if not isinstance(obj, list) or not all(isinstance(o, dict) for o in obj):
        raise StudioError("err.import.unknown_json", name=name)
    if not obj:
        raise StudioError("err.import.no_records", name=name)
    return _import_records(list(enumerate(obj, start=1)), name, "json", need_answer)


def _import_records(records: list[tuple[int, dict]], name: str, fmt: str, need_answer: bool = True) -> ImportResult:
    result = ImportResult(pairs=[], source_format=fmt)
    flat = [(n, r) for n, r in records if not isinstance(r.get("messages", r.get("conversations")), list)]
    mapping = map_columns(sorted({k for _, r in flat for k in r}), name, need_answer) if flat else {}
    for lineno, rec in records:
        turns = rec.get("messages", rec.get("conversations"))
        if isinstance(turns, list):
            _add_conversation(result, turns, rec, lineno, name)
        else:
            result.pairs.append(_pair_from_record(rec, mapping))
    if not result.pairs:
        raise StudioError("err.import.no_pairs", name=name, len=len(records))
    check_cell_sizes(result.pairs, name)
    return result


def _add_conversation(result: ImportResult, turns: list, rec: dict, lineno: int, name: str) -> None:
    messages = []
    for t in turns:
        if not isinstance(t, dict):
            raise StudioError("err.import.bad_message", name=name, lineno=lineno)
        role = str(t.get("role", t.get("from", ""))).lower()
        content = t.get("content", t.get("value", ""))
        if isinstance(content, list):  # [{"type": "text", "text": ...}] parts
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        messages.append((role, _normalise_newlines(str(content or ""))))
    pairs: list[QAPair] = []
    pending: str | None = None
    for role, content in messages:
        if role == "system":
            if result.system_prompt is None and content.strip():
                result.system_prompt = content
        elif role in USER_ROLES:
            pending = content if pending is None else f"{pending}\n{content}"
        elif role in ASSISTANT_ROLES:
            if pending is None:
                result.warnings.append(T("w.orphan_answer", name=name, line=lineno))
                continue
            pairs.append(QAPair(question=pending, answer=content))
            pending = None
        else:
            raise StudioError("err.import.unknown_role", name=name, lineno=lineno, role=role)
    if pending is not None:
        result.warnings.append(T("w.last_question", name=name, line=lineno))
    contexts = rec.get("contexts") if isinstance(rec.get("contexts"), list) else []
    dialog_id = str(rec.get("dialog_id") or "").strip()
    if len(pairs) > 1 and not dialog_id:
        dialog_id = f"line{lineno}"
    for i, p in enumerate(pairs):
        p.dialog_id = dialog_id
        if i < len(contexts) and contexts[i]:
            p.context = _normalise_newlines(str(contexts[i]))
    result.pairs.extend(pairs)


def _card_result(card) -> ImportResult:
    return ImportResult(pairs=check_cell_sizes(card.pairs, card.name), source_format=card.spec, name=card.name,
                        system_prompt=card.system_prompt, notes=card.notes, warnings=card.warnings)
