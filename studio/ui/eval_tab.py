"""The Evaluate tab: base vs tuned on the probe questions — metrics table, bar chart, answers, CSV/HTML export."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.errors import StudioError
from studio.evaluate import evaluate
from studio.locale import LANGS, render, tr
from studio.report import answers_csv, html_report, metric_rows, rate_bars
from studio.ui.common import headers
from studio.storage import atomic_write_text
from studio.train.runs import list_runs
from studio.workspace import runs_dir

RATE_KEYS = ("style_rate", "stop_rate", "length_adherence", "knowledge_score", "distinct_2")


def finished_runs() -> list[str]:
    return [r.id for r in list_runs(runs_dir()) if (r.path / "adapter" / "adapter_config.json").exists()]


def _outputs(res: dict, lang: str):
    table = pd.DataFrame(metric_rows(res, lang), columns=headers(("col.metric", "eval.model.base", "eval.model.tuned"),
                                                                 lang))
    bars = pd.DataFrame(rate_bars(res, RATE_KEYS, lang), columns=["bar", "model", "value"])
    bars = gr.BarPlot(value=bars, sort=list(bars["bar"]))  # metric by metric, base before tuned
    answers = pd.DataFrame([[a["question"], a["base"], a["tuned"]] for a in res["answers"]],
                           columns=headers(("col.question", "eval.model.base", "eval.model.tuned"), lang))
    return table, bars, answers


def build_eval_tab(i18n: gr.I18n, lang: gr.State):
    with gr.Row():
        run = gr.Dropdown(finished_runs(), allow_custom_value=True, label=i18n("eval.run"), scale=3)
        prompts = gr.File(label=i18n("eval.prompts"), file_types=[".txt", ".csv", ".tsv", ".jsonl"], scale=2)
        max_new = gr.Number(64, precision=0, minimum=1, label="max_new_tokens")
        go = gr.Button(i18n("eval.go"), variant="primary")
    status = gr.Textbox(label=i18n("format.status"), interactive=False)
    with gr.Row():
        table = gr.Dataframe(headers=["metric", "base", "tuned"], interactive=False, label=i18n("eval.metrics"))
        bars = gr.BarPlot(x="bar", y="value", color="model", x_label_angle=-30, y_lim=[0, 1], sort=None,
                          color_map={tr(lg, f"eval.model.{m}"): c for lg in LANGS
                                     for m, c in (("base", "#9ca3af"), ("tuned", "#f97316"))},
                          label=i18n("eval.chart"), x_title=" ", elem_id="eval-bars")
    answers = gr.Dataframe(headers=["question", "base", "tuned"], interactive=False, wrap=True,
                           label=i18n("eval.answers"))
    with gr.Row():
        exp_csv = gr.Button(i18n("io.export_csv"))
        exp_html = gr.Button(i18n("eval.export_html"))
        download = gr.File(label=i18n("io.download"), interactive=False)

    def on_eval(ref, file, mx, lg, progress=gr.Progress()):
        if not ref:
            yield tr(lg, "eval.pick_run"), gr.skip(), gr.skip(), gr.skip()
            return
        # the previous result or error goes at once: what shows now is this evaluation's progress
        yield tr(lg, "eval.running", run=ref), gr.skip(), gr.skip(), gr.skip()
        try:
            res = evaluate(ref, file or None, runs_dir(), int(mx or 64),
                           progress=lambda f, m: progress(f, desc=render(m, lg)))
        except StudioError as e:
            yield e.render(lg), gr.skip(), gr.skip(), gr.skip()
            return
        yield (tr(lg, "eval.done", n=len(res["answers"]), path=f"{ref}/eval/results.json"), *_outputs(res, lg))

    def on_show(ref, lg):
        path = runs_dir() / str(ref) / "eval" / "results.json"
        if not ref or not path.exists():
            return tr(lg, "eval.not_yet"), None, None, None
        return tr(lg, "eval.showing"), *_outputs(json.loads(path.read_text(encoding="utf-8")), lg)

    def export(kind: str):
        def run_export(ref):
            path = runs_dir() / str(ref) / "eval" / "results.json"
            if not ref or not path.exists():
                return None
            res = json.loads(path.read_text(encoding="utf-8"))
            out = Path(tempfile.mkdtemp(prefix="eval-")) / f"{ref}-eval.{kind}"
            atomic_write_text(out, answers_csv(res) if kind == "csv" else html_report(res, f"Persona Studio: {ref}"),
                              keep_backups=0)
            return str(out)
        return run_export

    go.click(on_eval, [run, prompts, max_new, lang], [status, table, bars, answers], api_name="evaluate")
    run.change(on_show, [run, lang], [status, table, bars, answers], api_visibility="private")
    exp_csv.click(export("csv"), [run], [download], api_name="export_eval_csv")
    exp_html.click(export("html"), [run], [download], api_name="export_eval_html")
    def refresh():
        ids = finished_runs()
        return gr.Dropdown(choices=ids, value=ids[0] if ids else None)  # the newest run, like the Merge tab

    return refresh, [run]
