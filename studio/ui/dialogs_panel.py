"""The Evaluate tab's multi-turn view: style kept by turn for each model (a line each), a dialogue's turns side by
side with ✓/✗ and the rules a reply broke, the pressure turns named; and the button that evaluates the dialogues
as a job."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.workspace import runs_dir
from studio.eval.dialogs import dialog_ids, dialog_rows, load_saved, turn_points
from studio.eval.results import MODELS
from studio.jobs.folders import Run, resolve_run
from studio.jobs.params import EvalParams
from studio.locale import tr
from studio.serve.chat_session import ChatRegistry
from studio.ui import job_panel as jp
from studio.ui.blank import blank
from studio.ui.common import headers

TURN_KEYS = ("col.turn", "col.pressure", "col.user", "eval.model.base", "eval.model.tuned")


def saved(ref: str | None) -> dict | None:
    if not ref:
        return None
    try:
        run = resolve_run(ref, runs_dir(), inside=True)
    except StudioError:
        return None
    return load_saved(Run(run.path).dialog_results)


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def summary_text(data: dict, lg: str) -> str:
    return "\n\n".join(tr(lg, "eval.dialogs_summary", model=tr(lg, f"eval.model.{m}"), ordinary=_pct(s.get(
        "style_ordinary")), pressure=_pct(s.get("style_pressure")), held=_pct(s.get("held_to_the_end")),
        brk=s.get("median_break_turn") or "-") for m, s in data["summary"].items() if m in MODELS)


def chart(data: dict | None, lg: str) -> gr.LinePlot:
    """Style by turn, one line per model; the turns are labels in their order (a numeric axis drew half turns)."""
    rows = [] if data is None else [(str(t), tr(lg, f"eval.model.{m}"), v) for t, m, v in turn_points(data)]
    frame = pd.DataFrame(rows, columns=["turn", "model", "style"])
    order = sorted({r[0] for r in rows}, key=int)
    return gr.LinePlot(value=frame, x_title=tr(lg, "axis.turn"), y_title=tr(lg, "axis.style"),
                       color_title=tr(lg, "axis.model"), sort=order or None)


def turns_frame(data: dict | None, dialog: str | None, lg: str) -> pd.DataFrame:
    rows = []
    for n, pressure, user, replies in ([] if data is None or not dialog else dialog_rows(data, dialog)):
        cells = []
        for m in MODELS:
            text, failed = replies.get(m, ("", []))
            mark = "✓ " if not failed else "✗ "
            broke = ", ".join(tr(lg, f"rule.{f}") for f in failed)   # the rules' names in the reader's language
            cells.append(mark + text + (f"  [{broke}]" if failed else ""))
        rows.append([n, tr(lg, f"pressure.{pressure}") if pressure else "", user, *cells])
    return pd.DataFrame(rows, columns=headers(TURN_KEYS, lg))


def on_show(ref: str | None, dialog: str | None, lg: str):
    """The run's saved multi-turn results: summary, chart, dialogue list and the chosen dialogue's turns."""
    data = saved(ref)
    if data is None:
        return (tr(lg, "eval.dialogs_none"), chart(None, lg), gr.Dropdown(choices=[], value=None),
                turns_frame(None, None, lg))
    ids = dialog_ids(data)
    pick = dialog if dialog in ids else (ids[0] if ids else None)
    return summary_text(data, lg), chart(data, lg), gr.Dropdown(choices=ids, value=pick), turns_frame(data, pick, lg)


def on_dialog(ref: str | None, dialog: str | None, lg: str) -> pd.DataFrame:
    return turns_frame(saved(ref), dialog, lg)


def dialog_params(ref, max_new):
    if not ref:
        raise StudioError("eval.pick_run")
    ref = resolve_run(ref, runs_dir(), inside=True).id
    return EvalParams(ref, None, int(max_new or 64), "base", dialogs=""), f"{ref}-dialogs"


def build_dialogs_panel(i18n: gr.I18n, lang: gr.State, chats: ChatRegistry, run: gr.Dropdown, max_new: gr.Number,
                        panel) -> None:
    with gr.Accordion(i18n("eval.dialogs"), open=False):
        with gr.Row():
            go = gr.Button(i18n("eval.dialogs_go"), variant="primary")
            show = gr.Button(i18n("eval.dialogs_show"))
            pick = gr.Dropdown([], label=i18n("eval.dialog_pick"), allow_custom_value=False)
        summary = gr.Markdown()
        plot = blank(gr.LinePlot(x="turn", y="style", color="model", y_lim=[0, 1], label=i18n("eval.dialogs_chart")),
                     lambda lg: chart(None, lg))
        turns = blank(gr.Dataframe(headers=list(TURN_KEYS), interactive=False, wrap=True,
                                   column_widths=["6%", "12%", "22%", "30%", "30%"]),
                      lambda lg: turns_frame(None, None, lg))
    go.click(jp.starter("eval", chats, dialog_params), [run, max_new, lang], [panel.line, panel.job],
             api_name="evaluate_dialogs")
    outputs = [summary, plot, pick, turns]
    show.click(on_show, [run, pick, lang], outputs, api_name="show_dialogs")
    run.change(on_show, [run, pick, lang], outputs, api_visibility="private")
    pick.input(on_dialog, [run, pick, lang], [turns], api_visibility="private")
