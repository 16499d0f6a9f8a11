"""Evaluation results as a metrics table, CSV and a self-contained HTML report. No torch, no gradio."""
from __future__ import annotations

import csv
import html
import io

from studio.data.csv_cells import neutralize
from studio.eval.registry import METRICS
from studio.eval.results import MODELS, EvalResults

LABELS = {metric.name: metric.label for metric in METRICS}  # English (the HTML report)


def fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def metric_label(key: str, lang: str = "en") -> str:
    from studio.locale import tr
    return tr(lang, f"metric.{key}") if key in LABELS else key


def metric_rows(results: EvalResults, lang: str = "en") -> list[list[str]]:
    return [[metric_label(k, lang), fmt(results.base.get(k)), fmt(results.tuned.get(k))]
            for k in LABELS if k in results.base or k in results.tuned]


def warnings(results: EvalResults, lang: str = "en") -> list[str]:
    """The summary's warnings: forgetting (free-form knowledge fell) and collapse (the model repeats one answer)."""
    from studio.locale import tr
    out = []
    if results.forgetting:
        base, tuned = results.base["freeform_score"], results.tuned["freeform_score"]
        out.append(tr(lang, "eval.forgetting", base=f"{base:.2f}", tuned=f"{tuned:.2f}",
                      points=f"{(base - tuned) * 100:.0f}"))
    if results.freeform_base_as == "text":
        out.append(tr(lang, "eval.base_as_text"))
    if results.collapse:
        t = results.tuned
        out.append(tr(lang, "eval.collapse", dup=fmt(t.get("duplicate_share")), copy=fmt(t.get("system_overlap"))))
    return out


def rate_bars(results: EvalResults, keys: tuple[str, ...], lang: str = "en") -> list[dict]:
    """Grouped bars for a 0-1 rate chart: one bar per (metric, model), each its own category, so bars stand side
    by side instead of stacking (a stacked base 0.25 under tuned 0.97 would be cut off at 1.0)."""
    from studio.locale import tr
    out = []
    for k in keys:
        for model in MODELS:
            v = results.metrics(model).get(k)
            if v is not None:
                name = tr(lang, f"eval.model.{model}")
                out.append({"bar": f"{metric_label(k, lang)} · {name}", "model": name, "value": float(v)})
    return out


def answers_csv(results: EvalResults) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["question", "reference", "base", "tuned", "base_stopped", "tuned_stopped"])
    for a in results.answers:
        w.writerow([neutralize(str(v)) for v in (a.question, a.reference, a.base, a.tuned, a.base_stopped,
                                                 a.tuned_stopped)])
    return "\ufeff" + buf.getvalue()


def html_report(results: EvalResults, title: str) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(n)}</td><td>{e(b)}</td><td>{e(t)}</td></tr>" for n, b, t in metric_rows(results))
    bars = ""
    for key in ("style_rate", "stop_rate", "length_adherence", "freeform_score", "knowledge_score"):
        for model in MODELS:
            v = results.metrics(model).get(key)
            width = 0 if v is None else max(0.0, min(v, 1.0)) * 300
            bars += (f"<div>{e(LABELS[key])} · {model}: <span style='display:inline-block;height:10px;"
                     f"width:{width:.0f}px;background:{'#999' if model == 'base' else '#f97316'}'></span> "
                     f"{e(fmt(v))}</div>")
    answers = "".join(f"<tr><td>{e(a.question)}</td><td>{e(a.base)}</td><td>{e(a.tuned)}</td></tr>"
                      for a in results.answers)
    return (f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title><style>body{{font-family:sans-serif;"
            f"max-width:960px;margin:2em auto}}td,th{{border:1px solid #ccc;padding:4px}}table{{border-collapse:"
            f"collapse}}</style><h1>{e(title)}</h1><table><tr><th>metric</th><th>base</th><th>tuned</th></tr>{rows}"
            f"</table><h2>Rates</h2>{bars}<h2>Answers</h2><table><tr><th>question</th><th>base</th><th>tuned</th>"
            f"</tr>{answers}</table>")
