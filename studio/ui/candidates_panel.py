"""The Chat tab's best-of-several: three sampled candidates for one pane's last reply, the user picks the best, and
the pick is recorded against each of the others in the votes log (several rejected replies per prompt, as the
improvement rounds make them). The session logic lives in studio/serve/chat_session.py."""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from studio.core.errors import StudioError
from studio.locale import tr
from studio.serve.chat import GenSettings
from studio.serve.chat_session import ChatSession

CANDIDATES = 3


def on_candidates(pane: int):
    def show(s: ChatSession | None, *sv):
        *sv, lg = sv
        settings = GenSettings(temperature=float(sv[0]), top_p=float(sv[1]), top_k=int(sv[2] or 0),
                               repetition_penalty=float(sv[3]), max_new_tokens=int(sv[4] or 64), seed=int(sv[5] or 0))
        try:
            if s is None:
                raise StudioError("chat.candidates_chat_first")
            texts = s.candidates(pane, CANDIDATES, settings)
        except StudioError as e:
            return gr.Radio(choices=[], value=None, visible=False), e.render(lg)
        if len(texts) < 2:
            return gr.Radio(choices=[], value=None, visible=False), tr(lg, "chat.candidates_same")
        choices = [(f"{k + 1}. {t}", k) for k, t in enumerate(texts)]
        label = s.labels()[pane].split(":")[0]
        return gr.Radio(choices=choices, value=None, visible=True), tr(lg, "chat.candidates_shown", n=len(texts),
                                                                       pane=label)
    return show


def on_keep(panes_out: Callable):
    def keep(s: ChatSession | None, k, *sv):
        *sv, lg = sv
        try:
            if s is None or k is None:
                raise StudioError("chat.candidates_first")
            n = s.pick(int(k), sv)
        except (StudioError, ValueError, TypeError) as e:
            msg = e.render(lg) if isinstance(e, StudioError) else tr(lg, "chat.candidates_first")
            return gr.skip(), gr.skip(), msg, gr.skip()
        return (*panes_out(s), tr(lg, "chat.picked", k=int(k) + 1, n=n),
                gr.Radio(choices=[], value=None, visible=False))
    return keep


def build_candidates_panel(i18n: gr.I18n) -> Callable:
    """The widgets, where they stand in the page (under the vote buttons); returns the function that wires them
    once the generation settings exist."""
    with gr.Row():
        show_a = gr.Button(i18n("chat.candidates_a"), size="sm")
        show_b = gr.Button(i18n("chat.candidates_b"), size="sm")
        keep = gr.Button(i18n("chat.candidates_keep"), size="sm")
    picked = gr.Radio([], type="value", label=i18n("chat.candidates_pick"), visible=False, elem_id="candidates")

    def wire(chat_state: gr.State, settings_inputs: list, status: gr.Textbox, lang: gr.State, panes: list,
             panes_out: Callable) -> None:
        answers = {"concurrency_id": "chat-answers", "concurrency_limit": 1}   # not while the panes stream
        for btn, pane in ((show_a, 0), (show_b, 1)):
            btn.click(on_candidates(pane), [chat_state, *settings_inputs, lang], [picked, status],
                      api_name=f"chat_candidates_{'ab'[pane]}", **answers)
        keep.click(on_keep(panes_out), [chat_state, picked, *settings_inputs, lang], [*panes, status, picked],
                   api_name="chat_keep_candidate")
    return wire
