"""The Format tab: template + tokenizer + max length -> formatted text, token view, Doctor findings with
auto-fixes, token counts against max length, and export of the rendered dataset."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.models import load_tokenizer, model_choices
from studio.core.workspace import runs_dir
from studio.data import persona_session as ps
from studio.data.stats import length_histogram
from studio.format.formatting import (
    AUTOFIXES,
    FormatSettings,
    apply_autofix,
    autofix_applies,
    export_rendered,
    render_persona,
)
from studio.format.render import IGNORE, TRAIN_ON
from studio.format.token_view import token_view_html
from studio.locale import T, tr
from studio.train.config import TrainConfig
from studio.train.recipes import recipe
from studio.train.replay import preview_conversations
from studio.ui.blank import axis_titles, blank
from studio.ui.common import FINDING_KEYS, FINDING_WIDTHS, findings_frame, headers, template_choices
from studio.ui.persona_tab import PersonaTab, rows_view

N_OUTPUTS = 7  # status, text, token view, findings, histogram, fix choice, render state


def _empty_outputs(message: str, lang: str) -> list:
    return [message, "", "", findings_frame([], lang), pd.DataFrame(columns=["tokens", "examples"]),
            gr.Dropdown(choices=[], value=None), None]


def show(st: dict, row_no: float, lg: str = "en") -> tuple[str, str]:
    res = st["result"]
    row_no = int(row_no or 1)
    idx = next((i for i, r in enumerate(res.renders) if row_no in r.rows), len(res.renders) - 1)
    r = res.renders[idx]
    banner = tr(lg, "format.replay_row", n=r.rows[0] - res.first_replay_row + 1) if res.is_replay(r.rows[0]) else ""
    return r.text, (f"<p><b>{banner}</b></p>" if banner else "") + token_view_html(r, lg)


def summarize(st: dict, row_no: float, lg: str) -> list:
    res = st["result"]
    if not res.renders:
        return _empty_outputs(tr(lg, "format.no_rows"), lg)
    width = max(16, st["settings"].max_length // 8)  # eight bins up to max length
    hist_df = pd.DataFrame(length_histogram([r.full_length for r in res.renders], width),
                           columns=["tokens", "examples"])
    trained = sum(sum(l != IGNORE for l in r.labels) for r in res.renders)
    errors = sum(f.severity == "error" for f in res.findings)
    msg = tr(lg, "format.summary", examples=len(res.renders), rows=sum(len(c.turns) for c in res.convs),
             longest=max(r.full_length for r in res.renders), max_length=st["settings"].max_length,
             trained=trained, errors=errors,
             added=T("format.added", tokens=", ".join(st["added"])) if st["added"] else "")
    if res.first_replay_row:
        last = max(r for c in res.convs for r in c.rows)
        msg += " " + tr(lg, "format.replay_summary", n=last - res.first_replay_row + 1,
                        first=res.first_replay_row, last=last)
    fixes = [(f"{f.code}: {tr(lg, 'fix.' + f.code)}", f.code) for f in res.findings
             if autofix_applies(f.code, st["settings"].template)]
    return [msg, *show(st, row_no, lg), findings_frame(res.findings, lg),
            gr.BarPlot(value=hist_df),  # bins in the rows' numeric order (sort=None; see persona_tab)
            gr.Dropdown(choices=fixes, value=fixes[0][1] if fixes else None), st]


def run(session: ps.EditSession | None, src: str, tmpl: str, mx: float, on: str, trust: bool, share: float,
        row_no: float, st: dict | None, lg: str):
    if session is None:
        return [*_empty_outputs(tr(lg, "format.open_first"), lg), gr.skip()]
    try:
        if st and st.get("source") == (src, trust):
            tok = st["tok"]
        else:
            tok, st = load_tokenizer(src, trust_remote_code=trust), {"added": []}
        settings = FormatSettings(template=tmpl, max_length=int(mx or 512), train_on=on)
        replay_rows = preview_conversations(src, tmpl, float(share or 0), TrainConfig().replay_system,
                                            session.persona, runs_dir(), tr(lg, "format.replay_placeholder"))
        result = render_persona(session.persona, tok, settings, src, replay=replay_rows)
    except StudioError as e:
        return [*_empty_outputs(e.render(lg), lg), gr.skip()]
    st = {**st, "tok": tok, "result": result, "settings": settings, "source": (src, trust)}
    last_row = max((r for c in result.convs for r in c.rows), default=1)
    return [*summarize(st, row_no, lg), gr.Number(value=min(int(row_no or 1), last_row), maximum=last_row)]


def apply_fix(choice: str | None, session: ps.EditSession | None, src, tmpl, mx, on, trust, share, row_no, st,
              q="", srt="row", lg="en"):
    """q, srt: the Persona tab's search and sort, kept when the fix changes its rows."""
    code = (choice or "").split(":")[0]
    if not st or code not in AUTOFIXES or session is None:
        return [gr.skip()] * (N_OUTPUTS + 8)
    fixed = apply_autofix(code, st["result"], session.persona, tmpl, int(mx or 512), st["tok"], st["added"])
    shown_rows = [gr.skip()] * 5
    if fixed.persona is not None:  # the rows changed: save them and show them in the Persona tab
        session.persona = fixed.persona
        session = ps.save(session)
        shown_rows = rows_view(session, q, srt, lg)
    st = {**st, "tok": fixed.tokenizer, "added": fixed.added}
    out = run(session, src, fixed.template, fixed.max_length, on, trust, share, row_no, st, lg)
    return [*out, fixed.template, fixed.max_length, *shown_rows]


def export(suffix: str):
    def go_export(st: dict | None):
        if not st:
            return None
        out = Path(tempfile.mkdtemp(prefix="persona-format-")) / f"formatted{suffix}"
        return str(export_rendered(st["result"], out))
    return go_export


def replay_of(source: str | None):
    """The replay share of the model's training recipe (0 for the default base model, which replay does not help)."""
    try:
        return recipe((source or "default").strip() or "default").replay_share
    except StudioError:
        return gr.skip()


def build_format_tab(i18n: gr.I18n, persona: PersonaTab, lang: gr.State) -> None:
    fstate = gr.State(None)  # {"tok": tokenizer, "result": FormatResult, "settings": FormatSettings, "added": [...]}
    with gr.Row():
        source = gr.Dropdown(choices=model_choices(), value="default", allow_custom_value=True, scale=3,
                             label=i18n("format.source"))
        template = gr.Radio(template_choices(i18n), value="model", label=i18n("format.template"), scale=2)
        max_len = gr.Number(value=512, precision=0, minimum=16, label=i18n("format.max_length"), scale=1)
        train_on = gr.Radio([(i18n(f"train_on.{k}"), k) for k in TRAIN_ON], value="responses",
                            label=i18n("format.train_on"), scale=2)
    with gr.Row():
        remote = gr.Checkbox(False, label=i18n("format.remote_code"))
        replay = gr.Slider(0, 0.8, value=recipe("default").replay_share, step=0.05, label=i18n("train.replay_share"),
                           info=i18n("format.replay_hint"))
        go = gr.Button(i18n("format.render"), variant="primary")
    status = gr.Textbox(label=i18n("format.status"), interactive=False)
    with gr.Row():
        with gr.Column(scale=3):
            row = gr.Number(value=1, precision=0, minimum=1, label=i18n("format.row"))
            text = gr.Textbox(label=i18n("format.text"), lines=6, interactive=False)
            view = gr.HTML(label=i18n("format.tokens"))
        with gr.Column(scale=2):
            findings = blank(gr.Dataframe(headers=headers(FINDING_KEYS, "en"), interactive=False, wrap=True,
                                          label=i18n("findings"), column_widths=FINDING_WIDTHS),
                             lambda lg: findings_frame([], lg))
            with gr.Row():
                fix_pick = gr.Dropdown(choices=[], label=i18n("format.fix"), scale=3)
                fix_go = gr.Button(i18n("format.apply_fix"), scale=1)
            hist = blank(gr.BarPlot(x="tokens", y="examples", label=i18n("format.lengths"), sort=None, y_lim=[0, None],
                                    elem_id="format-lengths"),
                         axis_titles(gr.BarPlot, "axis.tokens", "axis.examples"))
            with gr.Row():
                exp_jsonl = gr.Button(i18n("format.export_jsonl"))
                exp_txt = gr.Button(i18n("format.export_txt"))
            download = gr.File(label=i18n("io.download"), interactive=False)

    outputs = [status, text, view, findings, hist, fix_pick, fstate]
    assert len(outputs) == N_OUTPUTS

    inputs = [persona.session, source, template, max_len, train_on, remote, replay, row, fstate, lang]
    go.click(run, inputs, [*outputs, row], api_name="render")
    # the preview mixes in the replay rows Train would use for this model (its recipe: none for a base checkpoint)
    source.change(replay_of, [source], [replay], api_name="format_replay_share")
    row.change(lambda st, r, lg: list(show(st, r, lg)) if st and st["result"].renders else [gr.skip()] * 2,
               [fstate, row, lang], [text, view], api_name="show_row")

    fix_go.click(apply_fix, [fix_pick, *inputs[:-1], persona.query, persona.sort, lang],
                 [*outputs, row, template, max_len, persona.table, *persona.derived], api_name="apply_fix")

    exp_jsonl.click(export(".jsonl"), [fstate], [download], api_name="export_rendered_jsonl")
    exp_txt.click(export(".txt"), [fstate], [download], api_name="export_rendered_txt")
