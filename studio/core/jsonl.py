"""JSON Lines files the studio appends to (metrics, votes, drafts, evaluation answers): one reader, one appender.

A line that is not a JSON object — the torn last line of a killed process, or a damaged one — is skipped, never
raised: these files are read while another process may be writing them."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    """Every whole JSON object in the file, in order ([] for a missing file)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records as lines in one write (Japanese kept as it is)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        f.flush()
