"""The Evaluate tab: base vs tuned on the probe questions — metrics table, bar chart, answers, CSV/HTML export.
The evaluation runs as a background job (studio.jobs): progress shows here, survives a refresh, can be stopped."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.storage import atomic_write_text
from studio.core.workspace import runs_dir
from studio.data.library import safe_folder_name
from studio.eval.registry import rate_names
from studio.eval.report import answers_csv, html_report, metric_rows, rate_bars, warnings
from studio.eval.results import EvalResults, job_results, saved_results
from studio.jobs.folders import resolve_run
from studio.jobs.params import EvalParams
from studio.jobs.runs import can_be_evaluated, runs_that
from studio.jobs.status import read_status
from studio.locale import LANGS, tr
from studio.serve.chat_session import ChatRegistry
from studio.ui import job_panel as jp
from studio.ui.blank import blank
from studio.ui.common import headers
from studio.ui.dialogs_panel import build_dialogs_panel
from studio.ui.i18n import UPLOAD


def finished_runs() -> list[str]:
    return runs_that(can_be_evaluated, runs_dir())


METRIC_KEYS = ("col.metric", "eval.model.base", "eval.model.tuned")
ANSWER_KEYS = ("col.question", "eval.model.base", "eval.model.tuned")
FREEFORM_KEYS = ("col.question", "col.accepted", "eval.model.base", "eval.model.tuned")


def empty_outputs(lang: str) -> tuple:
    """The tables and chart with nothing evaluated yet: headers and axis titles in `lang`."""
    return (pd.DataFrame(columns=headers(METRIC_KEYS, lang)),
            gr.BarPlot(value=None, x_title=" ", y_title=tr(lang, "axis.rate"), color_title=tr(lang, "axis.model")),
            pd.DataFrame(columns=headers(ANSWER_KEYS, lang)), pd.DataFrame(columns=headers(FREEFORM_KEYS, lang)))


def _outputs(res: EvalResults, lang: str):
    table = pd.DataFrame(metric_rows(res, lang), columns=headers(METRIC_KEYS, lang))
    bars = pd.DataFrame(rate_bars(res, rate_names(), lang), columns=["bar", "model", "value"])
    bars = gr.BarPlot(value=bars)  # in the rows' order (the chart keeps sort=None): metric by metric, base first
    answers = pd.DataFrame([[a.question, a.base, a.tuned] for a in res.answers],
                           columns=headers(ANSWER_KEYS, lang))
    mark = {True: "✓ ", False: "✗ "}
    free = pd.DataFrame([[f.question, f.accepted, mark[f.base_ok] + f.base, mark[f.tuned_ok] + f.tuned]
                         for f in res.freeform],
                        columns=headers(FREEFORM_KEYS, lang))
    return table, bars, answers, free


def summary_flag(res: EvalResults, lang: str) -> str:
    """The forgetting and collapse warnings for the summary line, or ''."""
    return "".join(" " + w for w in warnings(res, lang))


def eval_params(ref, file, mx, against="base"):
    if not ref:
        raise StudioError("eval.pick_run")
    ref = resolve_run(ref, runs_dir(), inside=True).id   # a run of this studio, never a folder elsewhere
    return EvalParams(ref, file or None, int(mx or 64), against or "base"), str(ref)


def judge_params(ref, url, model, key_env):
    """A judging job of the run's saved answers, its settings checked before it starts."""
    from studio.eval.judge import Judge
    if not ref:
        raise StudioError("eval.pick_run")
    judge = Judge((url or "").strip(), (model or "").strip(), (key_env or "").strip())
    judge.check()
    ref = resolve_run(ref, runs_dir(), inside=True).id
    return EvalParams(ref, judge_url=judge.url, judge_model=judge.model, judge_key_env=judge.key_env), f"judge-{ref}"


def saved(ref, against: str = "base") -> EvalResults | None:
    return saved_results(ref, runs_dir(), against or "base")


def tick(cur, seen, lg):
    """Progress while the job runs; its tables once it has finished (once per job)."""
    line, bar = jp.show(cur, lg)
    if not cur or cur == seen:
        return line, bar, *(gr.skip(),) * 5, seen
    done = job_results(cur, runs_dir())
    if done is None:
        return line, bar, *(gr.skip(),) * 5, seen if read_status(Path(cur)).state != "finished" else cur
    res, summary = done
    return (line, bar, (summary.get(lg) or summary.get("en", "")) + summary_flag(res, lg), *_outputs(res, lg), cur)


def on_show(ref, against, lg):
    """The saved results of `ref` in `lg`. The chart is emptied first: gradio keeps the bar names and legend of a
    chart's first draw when only its data changes, so results redrawn in another language kept the old names."""
    res = saved(ref, against)
    if res is None:
        yield tr(lg, "eval.not_yet"), *empty_outputs(lg)
        return
    yield (gr.skip(), gr.skip(), gr.BarPlot(value=None), gr.skip(), gr.skip())
    yield tr(lg, "eval.showing") + summary_flag(res, lg), *_outputs(res, lg)


def export(kind: str):
    def run_export(ref):
        res = saved(ref)
        if res is None:
            return None
        out = Path(tempfile.mkdtemp(prefix="eval-")) / f"{safe_folder_name(Path(str(ref)).name)}-eval.{kind}"
        atomic_write_text(out, answers_csv(res) if kind == "csv" else html_report(res, f"Persona Studio: {ref}"),
                          keep_backups=0)
        return str(out)
    return run_export


def on_select(cur):
    ids = finished_runs()
    return gr.Dropdown(choices=ids, value=ids[0] if ids else None), jp.attach(("eval",))(cur)


def build_eval_tab(i18n: gr.I18n, lang: gr.State, chats: ChatRegistry):
    with gr.Row():
        run = gr.Dropdown(finished_runs(), allow_custom_value=True, label=i18n("eval.run"), scale=3)
        prompts = gr.File(label=i18n("eval.prompts"), scale=2, elem_classes=[UPLOAD])
        max_new = gr.Number(64, precision=0, minimum=1, label=i18n("gen.max_new_tokens"))
        against = gr.Radio([(i18n("eval.against_base"), "base"), (i18n("eval.against_parent"), "parent")],
                           value="base", label=i18n("eval.against"))
        go = gr.Button(i18n("eval.go"), variant="primary")
    panel = jp.job_panel(i18n)
    status = gr.Textbox(label=i18n("format.status"), interactive=False)
    shown = gr.State(None)  # the job whose results the tables show
    with gr.Row():
        table = blank(gr.Dataframe(headers=["metric", "base", "tuned"], interactive=False, label=i18n("eval.metrics")),
                      lambda lg: empty_outputs(lg)[0])
        bars = gr.BarPlot(x="bar", y="value", color="model", x_label_angle=-30, y_lim=[0, 1], sort=None,
                          color_map={tr(lg, f"eval.model.{m}"): c for lg in LANGS
                                     for m, c in (("base", "#9ca3af"), ("tuned", "#f97316"))},
                          label=i18n("eval.chart"), x_title=" ", elem_id="eval-bars")
        blank(bars, lambda lg: gr.BarPlot(x_title=" ", y_title=tr(lg, "axis.rate"), color_title=tr(lg, "axis.model")))
    answers = blank(gr.Dataframe(headers=["question", "base", "tuned"], interactive=False, wrap=True,
                                 label=i18n("eval.answers")), lambda lg: empty_outputs(lg)[2])
    freeform = blank(gr.Dataframe(headers=["question", "accepted", "base", "tuned"], interactive=False, wrap=True,
                                  label=i18n("eval.freeform")),
                     lambda lg: empty_outputs(lg)[3])
    build_dialogs_panel(i18n, lang, chats, run, max_new, panel)
    with gr.Accordion(i18n("judge.title"), open=False):
        gr.Markdown(i18n("judge.hint"))
        with gr.Row():
            judge_url = gr.Textbox(label=i18n("judge.url"), placeholder="http://127.0.0.1:8000/v1", scale=3)
            judge_model = gr.Textbox(label=i18n("judge.model"), scale=2)
            judge_key = gr.Textbox("STUDIO_JUDGE_KEY", label=i18n("judge.key_env"), scale=2)
            judge_go = gr.Button(i18n("judge.go"), scale=1)
    with gr.Row():
        exp_csv = gr.Button(i18n("io.export_csv"))
        exp_html = gr.Button(i18n("eval.export_html"))
        download = gr.File(label=i18n("io.download"), interactive=False)

    go.click(jp.starter("eval", chats, eval_params), [run, prompts, max_new, against, lang], [panel.line, panel.job],
             api_name="evaluate")
    judge_go.click(jp.starter("eval", chats, judge_params), [run, judge_url, judge_model, judge_key, lang],
                   [panel.line, panel.job], api_name="judge")
    outputs = [panel.line, panel.bar, status, table, bars, answers, freeform, shown]
    panel.timer.tick(tick, [panel.job, shown, lang], outputs, api_visibility="private", show_progress="hidden")
    gr.Button(i18n("train.refresh"), size="sm").click(tick, [panel.job, shown, lang], outputs,
                                                       api_name="eval_progress")
    panel.stop.click(jp.stop, [panel.job, lang], [panel.line], api_name="eval_stop")
    for trigger in (run.change, against.change):
        trigger(on_show, [run, against, lang], [status, table, bars, answers, freeform], api_visibility="private")
    exp_csv.click(export("csv"), [run], [download], api_name="export_eval_csv")
    exp_html.click(export("html"), [run], [download], api_name="export_eval_html")

    redraw = (on_show, [run, against], [status, table, bars, answers, freeform])  # + the new language, on a switch
    return on_select, [panel.job], [run, panel.job], redraw
