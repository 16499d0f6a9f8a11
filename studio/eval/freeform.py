"""The free-form knowledge probe: general questions asked through the chat template exactly as a user would,
scored by whether the reply contains an accepted answer. It shows forgetting that a multiple-choice probe (which
reads log-likelihoods in a neutral frame) misses: a character that answers everything in character. No torch."""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError

FREEFORM_FILE = "freeform_probe.jsonl"
DROP_FLAG = 0.10   # a tuned score this far (or more) below the base's is flagged as forgetting


@dataclass
class FreeformItem:
    question: str
    answers: list[str]    # accepted answers, any language ("Paris|パリ" in the file)
    lang: str


def read_freeform(path: Path) -> list[FreeformItem]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            answers = [a.strip() for a in str(obj["answers"]).split("|") if a.strip()]
            items.append(FreeformItem(str(obj["question"]), answers, str(obj.get("lang", ""))))
        except (ValueError, KeyError, TypeError):
            raise StudioError("err.freeform.line", name=path.name, line=n) from None
        if not answers:
            raise StudioError("err.freeform.line", name=path.name, line=n)
    return items


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def is_correct(reply: str, answers: list[str]) -> bool:
    """The reply contains an accepted answer. ASCII answers must stand alone ('7' is not found in '17')."""
    text = _norm(reply)
    for a in map(_norm, answers):
        if a.isascii():
            if re.search(rf"(?<![0-9a-z]){re.escape(a)}(?![0-9a-z])", text):
                return True
        elif a in text:
            return True
    return False


def score(replies: list[str], items: list[FreeformItem]) -> float | None:
    marks = [is_correct(r, it.answers) for r, it in zip(replies, items)]
    return sum(marks) / len(marks) if marks else None


def dropped(base: float | None, tuned: float | None) -> float | None:
    """How far the tuned score fell below the base's (positive = forgot), or None without both."""
    return None if base is None or tuned is None else round(base - tuned, 4)
