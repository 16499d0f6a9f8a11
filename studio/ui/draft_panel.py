"""The Persona tab's "Draft with a model" section: new questions (typed, from a file, or proposed from topics)
are answered by a studio model in a background job; the candidates are reviewed here (accept, edit, reject) and
only accepted ones join the table, marked with the model that drafted them."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.models import model_choices as base_choices
from studio.core.workspace import runs_dir
from studio.data import drafts as dr
from studio.data import persona_session as ps
from studio.jobs.folders import Run
from studio.jobs.launcher import result
from studio.jobs.params import DraftParams
from studio.jobs.runs import can_be_evaluated, list_runs, runs_that
from studio.jobs.status import PARAMS, State, read_status
from studio.locale import render, tr
from studio.serve.chat_session import ChatRegistry
from studio.ui import job_panel as jp
from studio.ui.blank import blank
from studio.ui.common import headers
from studio.ui.i18n import UPLOAD
from studio.ui.persona_tab import PersonaTab, rows_view

MERGED = ":merged"
REVIEW_KEYS = ("col.id", "draft.col.accept", "col.question", "col.answer", "draft.col.problems")


def model_choices() -> list[str]:
    """The base models, each run's adapter (its id) and each merged model (id:merged)."""
    return (base_choices() + runs_that(can_be_evaluated, runs_dir())
            + [r.id + MERGED for r in list_runs(runs_dir()) if Run(r.path).has_merged()])


def review_frame(session: ps.EditSession | None, lang: str) -> pd.DataFrame:
    cols = headers(REVIEW_KEYS, lang)
    if session is None:
        return pd.DataFrame(columns=cols)
    pending = dr.review_list(dr.load_candidates(Path(session.folder)), session.persona)
    return pd.DataFrame([[c.id, not c.problems, c.question, c.answer,
                          " · ".join(p.render(lang) for p in c.problems) or "✓"] for c in pending], columns=cols)


def _decisions(frame: pd.DataFrame | dict | None) -> tuple[list[str], list[str], dict[str, str]]:
    """(checked ids, unchecked ids, answers as shown) from the review table, read by position."""
    rows = frame.values.tolist() if isinstance(frame, pd.DataFrame) else (frame or {}).get("data", [])
    checked = [str(r[0]) for r in rows if r and r[1] in (True, "true", "True", 1)]
    unchecked = [str(r[0]) for r in rows if r and str(r[0]) not in checked]
    return checked, unchecked, {str(r[0]): str(r[3]) for r in rows if r}


def params(session, choice, text, file, topic_text, per, k, mx):
    if session is None:
        raise StudioError("draft.open_first")
    from studio.eval.prompts import read_prompts
    qs = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if file:
        qs += [p.question for p in read_prompts(file)]
    tops = [t.strip() for t in (topic_text or "").replace("、", ",").replace("\n", ",").split(",") if t.strip()]
    if not qs and not tops:
        raise StudioError("err.draft.no_questions")
    choice = (choice or "default").strip()
    runs = {r.id for r in list_runs(runs_dir())}
    spec = {"model": "default", "run": "", "merged": False}
    if choice.endswith(MERGED) and choice[:-len(MERGED)] in runs:
        spec.update(run=choice[:-len(MERGED)], merged=True)
    elif choice in runs:
        spec["run"] = choice
    else:
        spec["model"] = choice
    return (DraftParams(data=str(session.folder), questions=qs, topics=tops, per_topic=int(per or 5),
                        examples=int(k or 0), max_new_tokens=int(mx or 96), **spec), Path(session.folder).name)


def tick(cur, seen, session, lg):
    line, bar = jp.show(cur, lg)
    if not cur or cur == seen or read_status(Path(cur)).state not in (State.FINISHED, State.STOPPED):
        return line, bar, gr.skip(), seen
    try:
        data = json.loads((Path(cur) / PARAMS).read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError):
        data = None
    if session is None or str(session.folder) != str(data):
        return line, bar, gr.skip(), cur
    summary = result(Path(cur)).get("summary", {})
    return summary.get(lg) or line, bar, review_frame(session, lg), cur


def decide(accepting: bool):
    def handler(session, frame, q, srt, lg):
        if session is None:
            return tr(lg, "draft.open_first"), gr.skip(), *[gr.skip()] * 5
        checked, _, shown_answers = _decisions(frame)
        if not checked:
            return tr(lg, "draft.none_checked"), gr.skip(), *[gr.skip()] * 5
        folder = Path(session.folder)
        cands = dr.load_candidates(folder)
        if accepting:
            pairs = dr.accepted_pairs(cands, checked, shown_answers)
            session.persona.pairs += pairs
            ps.save(session)   # the table first: a crash before the decision leaves it pending, not lost
            if not session.saved:   # a conflict or a full disk
                del session.persona.pairs[len(session.persona.pairs) - len(pairs):]
                return render(session.status, lg), gr.skip(), *[gr.skip()] * 5
            answers = {p.question: p.answer for p in pairs}
            dr.decide(folder, {c.id: (dr.ACCEPTED, answers.get(c.question)) for c in cands if c.id in checked})
            msg = tr(lg, "draft.accepted", n=len(pairs))
        else:
            dr.decide(folder, {cid: (dr.REJECTED, None) for cid in checked})
            msg = tr(lg, "draft.rejected", n=len(checked))
        return msg, review_frame(session, lg), *rows_view(session, q, srt, lg)
    return handler


def refresh(cur, session, lg):
    line, bar = jp.show(cur, lg)
    return line, bar, review_frame(session, lg)


def on_select(cur, session, lg):
    return (gr.Dropdown(choices=model_choices()), jp.attach(("draft",))(cur), review_frame(session, lg))


def build_draft_panel(i18n: gr.I18n, persona: PersonaTab, chats: ChatRegistry, lang: gr.State):
    shown = gr.State(None)  # the finished job whose candidates are already in the review table
    with gr.Accordion(i18n("draft.title"), open=False):
        gr.Markdown(i18n("draft.intro"))
        with gr.Row():
            model = gr.Dropdown(model_choices(), value="default", allow_custom_value=True, label=i18n("draft.model"),
                                scale=3)
            examples = gr.Number(4, precision=0, minimum=0, maximum=16, label=i18n("draft.examples"))
            max_new = gr.Number(96, precision=0, minimum=8, label=i18n("gen.max_new_tokens"))
        with gr.Row():
            questions = gr.Textbox(lines=5, label=i18n("draft.questions"), scale=3)
            with gr.Column(scale=2):
                qfile = gr.File(label=i18n("draft.file"), elem_classes=[UPLOAD])
                topics = gr.Textbox(label=i18n("draft.topics"))
                per_topic = gr.Number(5, precision=0, minimum=1, maximum=20, label=i18n("draft.per_topic"))
        go = gr.Button(i18n("draft.go"), variant="primary")
        panel = jp.job_panel(i18n)
        review = blank(gr.Dataframe(headers=list(REVIEW_KEYS), datatype=["str", "bool", "str", "str", "str"],
                                    interactive=True, wrap=True, label=i18n("draft.review"),
                                    column_widths=["6%", "8%", "28%", "38%", "20%"], static_columns=[0, 2, 4]),
                       lambda lg: pd.DataFrame(columns=headers(REVIEW_KEYS, lg)))
        with gr.Row():
            accept = gr.Button(i18n("draft.accept"), variant="primary")
            reject = gr.Button(i18n("draft.reject"), variant="stop")
            reload_btn = gr.Button(i18n("train.refresh"))
        message = gr.Textbox(label=i18n("format.status"), interactive=False)

    go.click(jp.starter("draft", chats, params), [persona.session, model, questions, qfile, topics, per_topic,
                                                   examples, max_new, lang], [panel.line, panel.job],
             api_name="draft")
    outputs = [panel.line, panel.bar, review, shown]
    panel.timer.tick(tick, [panel.job, shown, persona.session, lang], outputs, api_visibility="private",
                     show_progress="hidden")
    panel.stop.click(jp.stop, [panel.job, lang], [panel.line], api_name="draft_stop")
    # another persona opened (or its rows changed): its own candidates
    persona.table.change(review_frame, [persona.session, lang], [review], api_visibility="private")

    reload_btn.click(refresh, [panel.job, persona.session, lang], [panel.line, panel.bar, review],
                     api_name="draft_progress")
    rows = [persona.table, *persona.derived]   # the Persona tab's table, statistics and chart follow a decision
    decision_inputs = [persona.session, review, persona.query, persona.sort, lang]
    accept.click(decide(True), decision_inputs, [message, review, *rows], api_name="draft_accept")
    reject.click(decide(False), decision_inputs, [message, review, *rows], api_name="draft_reject")

    return on_select, [panel.job, persona.session, lang], [model, panel.job, review]
