"""Every evaluation metric, once: its name (the results' key), how it is computed from one model's replies, its
English label (the HTML report; the UI's labels are the locale's `metric.<name>`), and whether it is a 0-1 rate
(drawn in the Evaluate tab's bar chart). Evaluation, reports and the Evaluate tab read this table. No torch."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.eval import freeform as ff
from studio.eval import metrics as m


@dataclass(frozen=True)
class Replies:
    """One model's side of an evaluation: what a metric may look at."""
    texts: list[str]              # replies to the probe questions
    stopped: list[bool]           # whether each ended on the end-of-turn token
    references: list[str]         # the probe file's reference answers ('' where none)
    free_texts: list[str]         # replies to the free-form knowledge questions
    free_items: list              # those questions with their accepted answers
    markers: list[str]            # the persona's style markers
    target_chars: int             # the style guide's reply length
    system: str                   # the system prompt the model was trained with


@dataclass(frozen=True)
class Metric:
    name: str
    label: str                                         # English, for the HTML report
    rate: bool                                         # a 0-1 share, drawn in the rate chart
    compute: Callable[[Replies], float | None] | None  # None: scored with the model itself (evaluate._scores)


METRICS: tuple[Metric, ...] = (
    Metric("style_rate", "style-marker rate", True, lambda r: m.style_rate(r.texts, r.markers)),
    Metric("length_adherence", "length adherence", True, lambda r: m.length_adherence(r.texts, r.target_chars)),
    Metric("median_length", "median length (chars)", False, lambda r: m.median_length(r.texts)),
    Metric("stop_rate", "stop rate", True, lambda r: m.stop_rate(r.stopped)),
    Metric("rouge_l", "ROUGE-L (char)", False, lambda r: m.mean_rouge_l(r.texts, r.references)),
    Metric("distinct_2", "distinct-2", True, lambda r: m.distinct_2(r.texts)),
    Metric("duplicate_share", "replies repeating another", False, lambda r: m.duplicate_share(r.texts)),
    Metric("system_overlap", "copied from the system prompt", False, lambda r: m.system_overlap(r.texts, r.system)),
    Metric("freeform_score", "free-form knowledge", True, lambda r: ff.score(r.free_texts, r.free_items)),
    Metric("knowledge_score", "knowledge probe", True, None),
    Metric("knowledge_en", "knowledge (en)", False, None),
    Metric("knowledge_ja", "knowledge (ja)", False, None),
    Metric("general_ppl", "general-text perplexity", False, None),
    Metric("reference_ppl", "reference perplexity", False, None),
)
BY_NAME = {metric.name: metric for metric in METRICS}


def score_replies(replies: Replies) -> dict[str, float | None]:
    """Every metric computed from replies alone (the model-scored ones come from evaluate._scores)."""
    return {metric.name: metric.compute(replies) for metric in METRICS if metric.compute}


def rate_names() -> tuple[str, ...]:
    return tuple(metric.name for metric in METRICS if metric.rate)
