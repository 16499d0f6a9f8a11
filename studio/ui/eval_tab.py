"""The Evaluate tab: base vs tuned on the probe questions — metrics table, bar chart, answers, CSV/HTML export."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.errors import StudioError
from studio.evaluate import evaluate
from studio.report import LABELS, answers_csv, html_report, metric_rows
from studio.storage import atomic_write_text
from studio.train.runs import list_runs
from studio.workspace import runs_dir

RATE_KEYS = ("style_rate", "stop_rate", "length_adherence", "knowledge_score", "distinct_2")


def finished_runs() -> list[str]:
    return [r.id for r in list_runs(runs_dir()) if (r.path / "adapter" / "adapter_config.json").exists()]


def _outputs(res: dict):
    table = pd.DataFrame(metric_rows(res), columns=["metric", "base", "tuned"])
    bars = pd.DataFrame([{"metric": LABELS[k], "model": model, "value": res[model][k]}
                         for k in RATE_KEYS for model in ("base", "tuned") if res[model].get(k) is not None],
                        columns=["metric", "model", "value"])
    answers = pd.DataFrame([[a["question"], a["base"], a["tuned"]] for a in res["answers"]],
                           columns=["question", "base", "tuned"])
    return table, bars, answers


def build_eval_tab(i18n: gr.I18n):
    with gr.Row():
        run = gr.Dropdown(finished_runs(), allow_custom_value=True, label=i18n("eval.run"), scale=3)
        prompts = gr.File(label=i18n("eval.prompts"), file_types=[".txt", ".csv", ".tsv", ".jsonl"], scale=2)
        max_new = gr.Number(64, precision=0, minimum=1, label="max_new_tokens")
        go = gr.Button(i18n("eval.go"), variant="primary")
    status = gr.Textbox(label=i18n("format.status"), interactive=False)
    with gr.Row():
        table = gr.Dataframe(headers=["metric", "base", "tuned"], interactive=False, label=i18n("eval.metrics"))
        bars = gr.BarPlot(x="metric", y="value", color="model", x_label_angle=-30, y_lim=[0, 1],
                          label=i18n("eval.chart"))
    answers = gr.Dataframe(headers=["question", "base", "tuned"], interactive=False, wrap=True,
                           label=i18n("eval.answers"))
    with gr.Row():
        exp_csv = gr.Button(i18n("io.export_csv"))
        exp_html = gr.Button(i18n("eval.export_html"))
        download = gr.File(label=i18n("io.download"), interactive=False)

    def on_eval(ref, file, mx, progress=gr.Progress()):
        if not ref:
            return "Pick a finished run first.", gr.skip(), gr.skip(), gr.skip()
        try:
            res = evaluate(ref, file or None, runs_dir(), int(mx or 64), progress=lambda f, m: progress(f, desc=m))
        except StudioError as e:
            return str(e), gr.skip(), gr.skip(), gr.skip()
        return (f"Evaluated {len(res['answers'])} probe questions; saved in {ref}/eval/results.json.",
                *_outputs(res))

    def on_show(ref):
        path = runs_dir() / str(ref) / "eval" / "results.json"
        if not ref or not path.exists():
            return "Not evaluated yet.", None, None, None
        return "Showing the saved results.", *_outputs(json.loads(path.read_text(encoding="utf-8")))

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

    go.click(on_eval, [run, prompts, max_new], [status, table, bars, answers], api_name="evaluate")
    run.change(on_show, [run], [status, table, bars, answers], api_visibility="private")
    exp_csv.click(export("csv"), [run], [download], api_name="export_eval_csv")
    exp_html.click(export("html"), [run], [download], api_name="export_eval_html")
    def refresh():
        ids = finished_runs()
        return gr.Dropdown(choices=ids, value=ids[0] if ids else None)  # the newest run, like the Merge tab

    return refresh, [run]
