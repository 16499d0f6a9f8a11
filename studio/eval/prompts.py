"""Probe/prompt files: one question per line (.txt), or CSV/TSV/JSONL with a `question` column (and an optional
`answer`, used as the reference). No torch."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.data.importers import ALIASES, decode_bytes


@dataclass
class Prompt:
    question: str
    reference: str = ""


def read_prompts(path: str | Path) -> list[Prompt]:
    path = Path(path)
    if not path.is_file():
        raise StudioError("err.prompts.1", path=path)
    text, _ = decode_bytes(path.read_bytes(), path.name)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ","))
        header = [h.strip().lstrip("\ufeff").lower() for h in (rows[0] if rows else [])]
        q = next((header.index(a) for a in ALIASES["question"] if a in header), None)
        a = next((header.index(a) for a in ALIASES["answer"] if a in header), None)
        if q is None:
            raise StudioError("err.prompts.3", name=path.name, join=', '.join(header) or 'nothing')
        out = [Prompt(r[q], r[a] if a is not None and a < len(r) else "") for r in rows[1:]
               if q < len(r) and r[q].strip()]
    elif suffix in (".jsonl", ".json"):
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise StudioError("err.prompts.5", name=path.name, line=n) from None
            if not isinstance(obj, dict) or not str(obj.get("question", obj.get("prompt", ""))).strip():
                raise StudioError("err.prompts.4", name=path.name, line=n)
            out.append(Prompt(str(obj.get("question", obj.get("prompt"))), str(obj.get("answer", "") or "")))
    else:
        out = [Prompt(line.strip()) for line in text.splitlines() if line.strip()]
    if not out:
        raise StudioError("err.prompts.2", name=path.name)
    return out
