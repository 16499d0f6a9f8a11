"""The Chat tab: two panes answering the same message, streaming side by side, with a blind mode and votes."""
from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.workspace import runs_dir
from studio.locale import tr
from studio.serve.chat import GenSettings
from studio.serve.chat_session import ChatRegistry, ChatSession, model_choices
from studio.serve.votes import export_preferences, read_votes, votes_path, win_rates
from studio.ui.blank import blank
from studio.ui.candidates_panel import build_candidates_panel
from studio.ui.common import localized_columns
from studio.ui.prefs_panel import build_prefs_panel
from studio.ui.train_tab import TrainTab


def _messages(pane, pending: tuple[str, str] | None = None) -> list[dict]:
    out = []
    turns = [(u, shown) for (u, _), shown in zip(pane.history, pane.shown)]
    for u, a in turns + ([pending] if pending else []):
        out += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return out


def session_for(chats: ChatRegistry, s: ChatSession | None) -> ChatSession:
    return s if s is not None else chats.track(ChatSession(runs_dir=str(runs_dir())))


def on_models():
    choices = model_choices(runs_dir())
    tuned = next((c for c in choices if c.startswith("run:")), "base")
    return gr.Dropdown(choices=choices, value="base"), gr.Dropdown(choices=choices, value=tuned)


def panes_out(s: ChatSession, pending=("", ""), only: int | None = None):
    """Both panes; `pending` (message, text A, text B) is the exchange still streaming, shown on the panes that
    answer it (`only` one of them when regenerating one side)."""
    la, lb = s.labels()
    a = _messages(s.panes[0], (pending[0], pending[1]) if pending[0] and only in (None, 0) else None)
    b = _messages(s.panes[1], (pending[0], pending[2]) if pending[0] and only in (None, 1) else None)
    return gr.Chatbot(value=a, label=la), gr.Chatbot(value=b, label=lb)


def pickers(hide: bool) -> tuple:
    """Blind mode hides which models are compared until the vote."""
    return gr.Dropdown(visible=not hide), gr.Dropdown(visible=not hide), gr.Markdown(visible=hide)


def on_queue(chats: ChatRegistry, msg, s, lg):
    """Runs at once, even while the panes stream: the typed message leaves the box and waits in the session's
    queue, so a message sent meanwhile is never lost; `on_send_next` answers the queue in order."""
    s = session_for(chats, s)
    if not (msg or "").strip():
        return gr.skip(), tr(lg, "chat.type_first"), s
    s.queued.append(msg)
    waiting = s.answering or len(s.queued) > 1
    return "", tr(lg, "chat.queued", n=len(s.queued)) if waiting else gr.skip(), s


def on_send_next(chats: ChatRegistry, first, second, is_blind, s, *sv):
    """Answer the oldest queued message (one per press of Send; the presses run one after another)."""
    if s is None or not s.queued:
        yield (gr.skip(),) * 5 + (gr.skip(),) * 3
        return
    yield from on_send(chats, s.queued.pop(0), first, second, is_blind, s, *sv, from_queue=True)


def on_send(chats: ChatRegistry, msg, first, second, is_blind, s, *sv, only: int | None = None,
            from_queue: bool = False):
    """sv: the generation settings, the system prompt to try ('' = each model's own), the session's language."""
    *sv, system, lg = sv
    s = session_for(chats, s)
    if only is None and s.needs_new_comparison(first, second, bool(is_blind)):
        s.start(first, second, bool(is_blind))  # blind: sides freshly shuffled for every comparison
    hide = pickers(not s.revealed)
    settings = GenSettings(temperature=float(sv[0]), top_p=float(sv[1]), top_k=int(sv[2] or 0),
                           repetition_penalty=float(sv[3]), max_new_tokens=int(sv[4] or 64), seed=int(sv[5] or 0))
    # The box is cleared once, at the start; while the panes stream it is left alone, so a next message typed
    # meanwhile is kept. The status box is cleared once too: a message said meanwhile (a refused vote) stays.
    cleared = only is not None or from_queue   # regenerating, or a queued message (on_queue took it from the box)
    started = False
    try:
        for texts in s.respond(msg, settings, lg, (system or "") if (system or "").strip() else None, only):
            yield (*panes_out(s, (msg, texts[0], texts[1]), only), gr.skip() if cleared else "",
                   gr.skip() if started else "", s, *hide)
            cleared = started = True
    except StudioError as e:
        yield (*panes_out(s), gr.skip() if cleared and not from_queue else msg, e.render(lg), s, *hide)
        return
    yield (*panes_out(s), gr.skip() if cleared else "", tr(lg, "chat.vote_to_reveal") if not s.revealed else "",
           s, *hide)


def on_regen(chats: ChatRegistry, first, second, is_blind, s, *sv, only: int | None = None):
    """Ask again: both panes, or pane `only` (the other keeps its answer)."""
    msg = s.undo_last(only) if s is not None and not s.answering else None
    if not msg:
        yield gr.skip(), gr.skip(), gr.skip(), tr(sv[-1], "chat.nothing_to_regen"), s, *[gr.skip()] * 3
        return
    yield from on_send(chats, msg, first, second, is_blind, s, *sv, only=only)


def on_clear(chats: ChatRegistry, first, second, is_blind, s):
    s = session_for(chats, s)
    s.start(first, second, bool(is_blind))
    return (*panes_out(s), "", s, *pickers(not s.revealed))


def on_blind(is_blind):
    return pickers(bool(is_blind))


def on_vote(which: str):
    def vote(s: ChatSession | None, *sv):
        *sv, lg = sv
        try:
            a, b = (s or ChatSession(str(runs_dir()))).vote(which, sv)
        except StudioError as e:
            gr.Warning(e.render(lg))   # a toast too: the status box may be scrolled away from the vote buttons
            return gr.skip(), gr.skip(), e.render(lg), gr.skip(), s, *[gr.skip()] * 3
        la, lb = s.labels()
        return (gr.Chatbot(label=la), gr.Chatbot(label=lb),
                tr(lg, "chat.vote_saved", which=tr(lg, f"vote.{which}"), a=a, b=b),
                win_rate_frame(read_votes(votes_path()), lg), s, *pickers(False))
    return vote


WIN_COLUMNS = ("model_x", "model_y", "votes", "x_win_rate", "y_win_rate", "ties", "both_bad")


def win_rate_frame(votes: list[dict], lg: str) -> pd.DataFrame:
    """Win rates as whole percentages under the reader's column names (not 0.3333333333333333)."""
    frame = pd.DataFrame(win_rates(votes), columns=list(WIN_COLUMNS))
    for col in ("x_win_rate", "y_win_rate"):
        if col in frame:
            frame[col] = [f"{v:.0%}" for v in frame[col]]
    return localized_columns(frame, lg)


def on_export(lg):
    try:
        out = Path(tempfile.mkdtemp(prefix="prefs-")) / "preferences.jsonl"
        n = export_preferences(read_votes(votes_path()), out)
        return str(out), tr(lg, "chat.exported", n=n)
    except StudioError as e:
        return None, e.render(lg)


def build_chat_tab(i18n: gr.I18n, chats: ChatRegistry, lang: gr.State, train: TrainTab | None = None,
                   persona_session: gr.State | None = None) -> tuple:
    chat_state = gr.State(None)  # this browser tab's ChatSession: histories, blind sides, its models
    with gr.Row():
        left = gr.Dropdown(["base"], value="base", label=i18n("chat.model_a"), allow_custom_value=True)
        right = gr.Dropdown(["base"], value="base", label=i18n("chat.model_b"), allow_custom_value=True)
        hidden_note = gr.Markdown(i18n("chat.hidden"), visible=False)  # in blind mode, instead of the two pickers
        blind = gr.Checkbox(False, label=i18n("chat.blind"))
        reload_models = gr.Button(i18n("chat.reload_models"))
    with gr.Row():
        pane_a = gr.Chatbot(label="A", height=420)
        pane_b = gr.Chatbot(label="B", height=420)
    with gr.Row():
        message = gr.Textbox(label=i18n("chat.message"), scale=5, lines=2)
        send = gr.Button(i18n("chat.send"), variant="primary", scale=1)
    with gr.Row():
        regen = gr.Button(i18n("chat.regenerate"))
        regen_a = gr.Button(i18n("chat.regenerate_a"))
        regen_b = gr.Button(i18n("chat.regenerate_b"))
        clear = gr.Button(i18n("chat.clear"))
        vote_a = gr.Button(i18n("chat.vote_a"))
        vote_b = gr.Button(i18n("chat.vote_b"))
        vote_tie = gr.Button(i18n("chat.vote_tie"))
        vote_bad = gr.Button(i18n("chat.vote_bad"))
    status = gr.Textbox(label=i18n("format.status"), interactive=False)
    wire_candidates = build_candidates_panel(i18n)
    with gr.Accordion(i18n("chat.settings"), open=False):
        with gr.Row():
            temperature = gr.Slider(0, 2, value=0, step=0.05, label=i18n("gen.temperature"),
                                    info=i18n("chat.temperature_hint"))
            top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label=i18n("gen.top_p"))
            top_k = gr.Number(0, precision=0, label=i18n("gen.top_k"), info=i18n("chat.top_k_hint"))
            rep = gr.Slider(1.0, 2.0, value=1.0, step=0.05, label=i18n("gen.repetition_penalty"))
            max_new = gr.Number(64, precision=0, minimum=1, label=i18n("gen.max_new_tokens"))
            seed = gr.Number(0, precision=0, label=i18n("gen.seed"))
        system = gr.Textbox("", label=i18n("chat.system"), info=i18n("chat.system_hint"), lines=2)
    with gr.Row():
        summary = blank(gr.Dataframe(headers=list(WIN_COLUMNS), interactive=False, label=i18n("chat.win_rates"),
                                     wrap=True, column_widths=["22%", "22%", "10%", "12%", "12%", "11%", "11%"]),
                        lambda lg: win_rate_frame([], lg))
        with gr.Column():
            export = gr.Button(i18n("chat.export"))
            download = gr.File(label=i18n("io.download"), interactive=False)

    settings_inputs = [temperature, top_p, top_k, rep, max_new, seed]
    wire_candidates(chat_state, settings_inputs, status, lang, [pane_a, pane_b], panes_out)
    if train is not None:
        build_prefs_panel(i18n, chat_state, settings_inputs, status, lang, train.fields, train.method_outputs,
                          persona_session)

    reload_models.click(on_models, None, [left, right], api_name="chat_models")
    common = [left, right, blind, chat_state, *settings_inputs, system, lang]
    shown = [left, right, hidden_note]
    send_out = [pane_a, pane_b, message, status, chat_state, *shown]
    # In the page: Send (or Enter) takes the message from the box at once, even while the panes stream, and queues
    # it; the answers then come one message after another (one concurrency group for both triggers).
    for trigger in (send.click, message.submit):
        # trigger_mode "multiple": a press while the last answers stream must run too (gradio's default drops it)
        trigger(partial(on_queue, chats), [message, chat_state, lang], [message, status, chat_state], queue=False,
                api_visibility="private", trigger_mode="multiple").then(
            partial(on_send_next, chats), common, send_out, api_visibility="private", trigger_mode="multiple",
            concurrency_id="chat-answers", concurrency_limit=1)
    # For API clients (gradio_client): one call sends a message and returns the finished answers.
    api_send = gr.Button(visible=False)
    api_send.click(partial(on_send, chats), [message, *common], send_out, api_name="chat_send")
    answers = {"concurrency_id": "chat-answers", "concurrency_limit": 1}   # one stream at a time per page
    regen.click(partial(on_regen, chats), common, send_out, api_name="chat_regenerate", **answers)
    regen_a.click(partial(on_regen, chats, only=0), common, send_out, api_name="chat_regenerate_a", **answers)
    regen_b.click(partial(on_regen, chats, only=1), common, send_out, api_name="chat_regenerate_b", **answers)
    clear.click(partial(on_clear, chats), [left, right, blind, chat_state],
                [pane_a, pane_b, status, chat_state, *shown], api_name="chat_clear")
    blind.change(on_blind, [blind], shown, api_name="chat_blind")
    for btn, which in ((vote_a, "A"), (vote_b, "B"), (vote_tie, "tie"), (vote_bad, "both_bad")):
        btn.click(on_vote(which), [chat_state, *settings_inputs, lang], [pane_a, pane_b, status, summary, chat_state,
                                                                          *shown], api_name=f"vote_{which}")
    export.click(on_export, [lang], [download, status], api_name="export_votes")
    return on_models, [left, right]
