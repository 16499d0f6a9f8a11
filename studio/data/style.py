"""Is a reply in the persona's style? Sentences and their endings, as text (pure Python). Evaluation's style rate
and the drafting review both ask this."""
from __future__ import annotations

import re

ANYWHERE = {"わたくし", "ごきげんよう"}
SENTENCE_END = re.compile(r"(?<=[。！？!?\n])")
TRAILING = "。．.！!？?…‥〜~ー」』）)\"'　 \n"


def sentences(reply: str) -> list[str]:
    return [s.strip().rstrip(TRAILING) for s in SENTENCE_END.split(reply) if s.strip().rstrip(TRAILING)]


def in_style(reply: str, markers: list[str]) -> bool:
    if any(m in reply for m in markers if m in ANYWHERE):
        return True
    endings = [m for m in markers if m not in ANYWHERE]
    sents = sentences(reply)
    if not sents or not endings:
        return False
    hits = sum(any(m in s[-(len(m) + 2):] for m in endings) for s in sents)
    return hits * 2 >= len(sents)
