"""JSON Lines files the studio writes (metrics, votes, drafts, progress, preferences, replay and evaluation answers):
one way to write a line, one way to read lines back, one way to rewrite a file.

A line is what ends at "\\n" and nothing else. Text may hold U+2028, U+2029, U+0085 and the other characters that
`str.splitlines()` treats as line ends; they are written escaped (`\\u2028`) so that every other reader of the file
sees one record a line too, and the reader splits on "\\n" only, so files written before the escaping read whole.

A line that is not a JSON object — the torn last line of a killed process, or a damaged one — is skipped when
reading, never raised (these files are read while another process may be writing them), and kept as it was when the
file is rewritten: a rewrite drops only the records it was asked to drop."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

# characters json.dumps(ensure_ascii=False) leaves raw that some line readers split on (C0 controls are escaped)
_LINE_BREAKERS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def dumps_line(record) -> str:
    """One JSON value as one line (no newline at its end); Japanese kept as it is, line-breaking characters escaped."""
    text = json.dumps(record, ensure_ascii=False)
    for raw, escaped in _LINE_BREAKERS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def lines_text(records: Iterable) -> str:
    """A whole JSONL file's text for these records ("" for none)."""
    return "".join(dumps_line(r) + "\n" for r in records)


def split_lines(text: str) -> list[str]:
    """The lines of a JSONL text: split at "\\n" only (a trailing "\\r" is dropped); no empty last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_line(line: str) -> dict | None:
    """The JSON object on a line, None when it holds none."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def read_jsonl(path: Path) -> list[dict]:
    """Every whole JSON object in the file, in order ([] for a missing file)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [r for r in map(parse_line, split_lines(text)) if r is not None]


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records as lines in one write."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines_text(records))
        f.flush()


def rewrite_jsonl(path: Path, change: Callable[[dict], dict | None], keep_backups: int = 1) -> int:
    """Apply `change(record) -> record | None` to every record (None drops it) and write the file again atomically;
    lines that hold no JSON object are kept byte for byte. Returns how many records were changed or dropped.
    The caller holds whatever lock guards the file."""
    from studio.core.storage import atomic_write_bytes
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    out, changed = [], 0
    for raw in raw_lines:
        record = parse_line(raw.decode("utf-8", "replace"))
        if record is None:
            if raw.strip():
                out.append(raw)
            continue
        new = change(dict(record))
        if new != record:
            changed += 1
        if new is not None:
            out.append(dumps_line(new).encode("utf-8"))
    if changed:
        atomic_write_bytes(path, b"".join(line + b"\n" for line in out), keep_backups=keep_backups)
    return changed
