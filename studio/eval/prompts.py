"""Probe/prompt files: one question per line (.txt), or any file the persona importers read (CSV/TSV/JSONL/JSON
with a question column and an optional answer, used as the reference). No torch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.data.importers import TEXT_SUFFIXES, decode_bytes, import_file


@dataclass
class Prompt:
    question: str
    reference: str = ""


def read_prompts(path: str | Path) -> list[Prompt]:
    path = Path(path)
    if not path.is_file():
        raise StudioError("err.prompts.no_file", path=path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        text, _ = decode_bytes(path.read_bytes(), path.name)
        out = [Prompt(line.strip()) for line in text.splitlines() if line.strip()]
    else:
        result = import_file(path, need_answer=False)
        out = [Prompt(p.question, p.answer) for p in result.pairs if p.question.strip()]
    if not out:
        raise StudioError("err.prompts.empty", name=path.name)
    return out
