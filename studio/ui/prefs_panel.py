"""The Chat tab's learning-from-votes part: 👍/👎 on each pane, the vote counter with *Train on these votes* (it
fills the Train tab), and the Preferences view (filter, delete, edit the chosen reply, send a pair to the persona
table, export in trl's formats). The votes file and its rules live in studio/serve/votes.py."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.jsonl import lines_text
from studio.data import persona_session as ps
from studio.data.persona import QAPair
from studio.data.preferences import export_rows, from_votes
from studio.locale import tr
from studio.serve.chat_session import ChatSession
from studio.serve.votes import (
    delete_votes,
    edit_chosen,
    read_votes,
    training_fields,
    vote_counts,
    vote_rows,
    votes_path,
)
from studio.ui.blank import blank
from studio.ui.common import localized_columns
from studio.ui.train_tab import on_method

VIEW_COLUMNS = ["id", "kind", "persona", "question", "chosen", "rejected"]


def votes_line(lg: str) -> str:
    pairs, ratings = vote_counts(read_votes(votes_path()))
    return tr(lg, "prefs.counter", pairs=pairs, ratings=ratings)


def view(query: str, lg: str) -> pd.DataFrame:
    frame = pd.DataFrame(vote_rows(read_votes(votes_path()), (query or "").strip()), columns=VIEW_COLUMNS)
    return localized_columns(frame, lg)


def on_rate(pane: int, good: bool):
    def rate(s: ChatSession | None, *values):
        *settings, lg = values
        try:
            if s is None:
                raise StudioError("chat.chat_first")
            model = s.rate(pane, good, settings)
        except StudioError as e:
            gr.Warning(e.render(lg))   # also a toast: the answers' stream must not hide that nothing was recorded
            return e.render(lg), gr.skip()
        mark = tr(lg, "prefs.good" if good else "prefs.bad")
        return tr(lg, "prefs.rated", model=model if s.revealed else "AB"[pane], mark=mark), votes_line(lg)
    return rate


def on_train_votes(s: ChatSession | None, lg: str):
    """Fill the Train tab's method fields from this chat's votes; the user checks them and presses Start."""
    choices = [p.choice for p in s.panes] if s else []
    fields = training_fields(choices, read_votes(votes_path()))
    if fields is None:
        return tr(lg, "prefs.train_needs"), *[gr.skip()] * 3
    return (tr(lg, "prefs.train_filled", run=fields["parent_run"], method=fields["method"].upper()),
            fields["method"], gr.update(value=fields["parent_run"], visible=True),
            gr.update(value=fields["preferences"], visible=True))


def chosen_reply(vote_id: str) -> str | None:
    """The chosen reply (or the rated one) of a vote by its id, as the view shows it; None for no such vote."""
    wanted = (vote_id or "").replace(",", " ").split()
    row = next((r for r in vote_rows(read_votes(votes_path())) if wanted and r[0] == wanted[0]), None)
    return row[4] if row else None


def on_pick(frame: pd.DataFrame, evt: gr.SelectData):
    """A click on a row of the view: its id goes into the id box and its chosen reply into the edit box."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        vote_id = str(frame.iloc[int(row), 0])
    except (IndexError, ValueError, TypeError):
        return gr.skip(), gr.skip()
    chosen = chosen_reply(vote_id)
    return vote_id, chosen if chosen is not None else gr.skip()


def on_id_typed(ids: str):
    """An id typed (or pasted) into the id box: the edit box shows that vote's current chosen reply."""
    chosen = chosen_reply(ids)
    return chosen if chosen is not None else gr.skip()


def on_delete(ids: str, query: str, lg: str):
    n = delete_votes(votes_path(), [i for i in (ids or "").replace(",", " ").split()])
    return tr(lg, "prefs.deleted", n=n), view(query, lg), votes_line(lg)


def on_edit(vote_id: str, text: str, query: str, lg: str):
    try:
        edit_chosen(votes_path(), (vote_id or "").strip(), text or "")
    except StudioError as e:
        return e.render(lg), gr.skip()
    return tr(lg, "prefs.edited", id=vote_id), view(query, lg)


def on_to_table(vote_id: str, session: ps.EditSession | None, lg: str):
    """The pair's question and chosen reply as a new row of the open persona (SFT data from a vote)."""
    if session is None:
        return tr(lg, "persona.none_open")
    row = next((r for r in vote_rows(read_votes(votes_path())) if r[0] == (vote_id or "").strip()), None)
    if row is None:
        return StudioError("err.votes.no_such_vote", id=vote_id).render(lg)
    session.persona.pairs = [*session.persona.pairs, QAPair(row[3], row[4])]
    ps.save(session)
    return tr(lg, "prefs.added_row", row=len(session.persona.pairs), name=Path(session.folder).name)


def on_export(unpaired: bool):
    def export(s: ChatSession | None, lg: str):
        rows = export_rows(from_votes(read_votes(votes_path())), "", unpaired=unpaired)
        if not rows:
            return None, StudioError("err.votes.none_yet").render(lg)
        out = Path(tempfile.mkdtemp(prefix="prefs-")) / ("unpaired.jsonl" if unpaired else "preferences.jsonl")
        out.write_text(lines_text(rows), encoding="utf-8")
        return str(out), tr(lg, "prefs.exported_unpaired" if unpaired else "chat.exported", n=len(rows))
    return export


def build_prefs_panel(i18n: gr.I18n, chat_state: gr.State, settings_inputs: list, status: gr.Textbox,
                      lang: gr.State, train_fields: dict, method_outputs: list, persona_session: gr.State) -> None:
    with gr.Row():
        rates = [gr.Button(i18n(key), size="sm") for key in ("prefs.up_a", "prefs.down_a", "prefs.up_b",
                                                                "prefs.down_b")]
    with gr.Row():
        counter = gr.Markdown()
        train_btn = gr.Button(i18n("prefs.train"), variant="primary", scale=0)
    with gr.Accordion(i18n("prefs.title"), open=False):
        with gr.Row():
            query = gr.Textbox(label=i18n("table.search"), scale=3)
            show = gr.Button(i18n("prefs.show"), scale=1)
        table = blank(gr.Dataframe(headers=VIEW_COLUMNS, interactive=False, wrap=True, max_height=400,
                                   label=i18n("prefs.view")),
                      lambda lg: localized_columns(pd.DataFrame(columns=VIEW_COLUMNS), lg))
        with gr.Row():
            ids = gr.Textbox(label=i18n("prefs.ids"), scale=2)
            delete = gr.Button(i18n("table.delete"), variant="stop", scale=1)
            to_table = gr.Button(i18n("prefs.to_table"), scale=1)
        with gr.Row():
            edited = gr.Textbox(label=i18n("prefs.edit"), lines=2, scale=3)
            save_edit = gr.Button(i18n("prefs.save_edit"), scale=1)
        with gr.Row():
            exp_pairs = gr.Button(i18n("prefs.export_pairs"))
            exp_unpaired = gr.Button(i18n("prefs.export_unpaired"))
            download = gr.File(label=i18n("io.download"), interactive=False)
    for btn, (pane, good) in zip(rates, ((0, True), (0, False), (1, True), (1, False))):
        btn.click(on_rate(pane, good), [chat_state, *settings_inputs, lang], [status, counter],
                  api_name=f"rate_{'ab'[pane]}_{'up' if good else 'down'}")
    train_btn.click(on_train_votes, [chat_state, lang],
                    [status, train_fields["method"], train_fields["parent_run"], train_fields["preferences"]],
                    api_name="train_on_votes").then(
        on_method, [train_fields["method"], train_fields["parent_run"]], method_outputs, api_visibility="private")
    show.click(view, [query, lang], [table], api_name="preferences_view")
    query.submit(view, [query, lang], [table], api_visibility="private")
    table.select(on_pick, [table], [ids, edited], api_name="preferences_pick")
    ids.input(on_id_typed, [ids], [edited], api_visibility="private")
    ids.submit(on_id_typed, [ids], [edited], api_visibility="private")
    delete.click(on_delete, [ids, query, lang], [status, table, counter], api_name="preferences_delete")
    save_edit.click(on_edit, [ids, edited, query, lang], [status, table], api_name="preferences_edit")
    to_table.click(on_to_table, [ids, persona_session, lang], [status], api_name="preferences_to_table")
    exp_pairs.click(on_export(False), [chat_state, lang], [download, status], api_name="export_preferences")
    exp_unpaired.click(on_export(True), [chat_state, lang], [download, status], api_name="export_unpaired")
    counter_refresh = gr.Timer(5.0)
    counter_refresh.tick(votes_line, [lang], [counter], api_visibility="private", show_progress="hidden")
