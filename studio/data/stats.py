"""Table statistics for the Persona tab: row count, reply lengths, share of replies with style markers."""
from __future__ import annotations

from dataclasses import dataclass

from studio.data.persona import Persona


@dataclass
class PersonaStats:
    rows: int
    dialogs: int
    median_answer_chars: float
    marker_share: float | None   # None when the persona has no markers configured
    lengths: list[int]


def persona_stats(persona: Persona) -> PersonaStats:
    answers = [p.answer.strip() for p in persona.pairs]
    lengths = [len(a) for a in answers]
    markers = persona.style.markers
    share = None
    if markers and answers:
        share = sum(any(m in a for m in markers) for a in answers) / len(answers)
    dialogs = len({p.dialog_id.strip() for p in persona.pairs if p.dialog_id.strip()})
    return PersonaStats(rows=len(answers), dialogs=dialogs, median_answer_chars=_median(lengths),
                        marker_share=share, lengths=lengths)


def length_histogram(lengths: list[int], bin_width: int = 10) -> list[tuple[str, int]]:
    """[('00-09', n), ('10-19', n), ...] covering every length, empty bins included. The bounds are zero-padded to
    one width, so the labels sort as the numbers do: a chart orders its category axis by text, whatever order the
    rows come in ('0-31, 128-159, 32-63' otherwise)."""
    if not lengths:
        return []
    top = max(lengths) // bin_width
    counts = [0] * (top + 1)
    for n in lengths:
        counts[n // bin_width] += 1
    digits = len(str(top * bin_width + bin_width - 1))
    return [(f"{i * bin_width:0{digits}d}-{i * bin_width + bin_width - 1:0{digits}d}", c)
            for i, c in enumerate(counts)]


def _median(values: list[int]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
