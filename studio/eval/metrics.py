"""Offline persona metrics on generated replies. Pure Python: no torch, no gradio.

- style rate: share of replies in the persona's style: at least half of a reply's sentences end in a style marker
  (a sentence-final form such as ですわ, ですの, かしら; a trailing ね/よ is allowed), or it uses a marker that
  may stand anywhere (the first person わたくし, ごきげんよう).
- length adherence: share of replies within the style guide's band (target ± 50%), and the median length.
- stop rate: share of replies that ended on the end-of-turn token before max new tokens.
- char-level ROUGE-L F1 against references; distinct-2 over character bigrams.
"""
from __future__ import annotations

import statistics

from studio.data.style import ANYWHERE, SENTENCE_END, TRAILING, in_style, sentences  # noqa: F401 - metrics' vocabulary

BAND = 0.5


def style_rate(replies: list[str], markers: list[str]) -> float | None:
    """None when the persona has no markers configured (not applicable, rather than 0)."""
    if not markers or not replies:
        return None
    return sum(in_style(r, markers) for r in replies) / len(replies)


def length_adherence(replies: list[str], target: int) -> float | None:
    if target <= 0 or not replies:
        return None
    lo, hi = target * (1 - BAND), target * (1 + BAND)
    return sum(lo <= len(r.strip()) <= hi for r in replies) / len(replies)


def median_length(replies: list[str]) -> float:
    return float(statistics.median(len(r.strip()) for r in replies)) if replies else 0.0


def stop_rate(stopped: list[bool]) -> float | None:
    return sum(stopped) / len(stopped) if stopped else None


def rouge_l(pred: str, ref: str) -> float:
    """Character-level ROUGE-L F1 (longest common subsequence)."""
    if not pred or not ref:
        return 0.0
    prev = [0] * (len(ref) + 1)
    for a in pred:
        cur = [0]
        for j, b in enumerate(ref, start=1):
            cur.append(prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


def mean_rouge_l(preds: list[str], refs: list[str]) -> float | None:
    pairs = [(p, r) for p, r in zip(preds, refs) if r]
    return sum(rouge_l(p, r) for p, r in pairs) / len(pairs) if pairs else None


def distinct_2(replies: list[str]) -> float | None:
    grams = [r[i:i + 2] for r in replies for i in range(len(r) - 1)]
    return len(set(grams)) / len(grams) if grams else None


REPEAT_FLAG = 0.3    # a third of the replies duplicating another (or copying the system prompt) is a collapse
COPY_FLAG = 0.5
MIN_COPY = 8         # common pieces shorter than this (わたくし, ですわ) are the style, not copying


def _norm(reply: str) -> str:
    return "".join(reply.split()).rstrip(TRAILING)


def duplicate_share(replies: list[str]) -> float | None:
    """Share of replies identical (ignoring spaces and final punctuation) to another reply in the set."""
    keys = [_norm(r) for r in replies]
    if not keys:
        return None
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return sum(counts[k] > 1 for k in keys if k) / len(keys)


def system_overlap(replies: list[str], system_prompt: str) -> float | None:
    """Mean share of each reply that is a verbatim piece of the system prompt (its longest common substring),
    so a reply copied from the system prompt scores ~1 and an ordinary in-character reply stays low."""
    from difflib import SequenceMatcher
    texts = [_norm(r) for r in replies if _norm(r)]
    if not texts or not system_prompt.strip():
        return None
    sysp = "".join(system_prompt.split())
    total = 0.0
    for t in texts:
        match = SequenceMatcher(None, t, sysp, autojunk=False).find_longest_match(0, len(t), 0, len(sysp))
        total += match.size / len(t) if match.size >= MIN_COPY else 0.0
    return total / len(texts)


def collapsed(duplicates: float | None, overlap: float | None) -> bool:
    return (duplicates or 0) >= REPEAT_FLAG or (overlap or 0) >= COPY_FLAG
