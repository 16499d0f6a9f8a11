"""Builds the Gradio app: one tab per step of the loop. Only studio/ui imports gradio."""
from __future__ import annotations

import gradio as gr

from studio.chat_session import ChatRegistry
from studio.ui.chat_tab import build_chat_tab
from studio.ui.eval_tab import build_eval_tab
from studio.ui.format_tab import build_format_tab
from studio.ui.i18n import make_i18n
from studio.ui.merge_tab import build_merge_tab
from studio.ui.persona_tab import build_persona_tab
from studio.ui.train_tab import build_train_tab


def build_app() -> tuple[gr.Blocks, gr.I18n]:
    i18n = make_i18n()
    chats = ChatRegistry()  # this app's chat sessions, so a training start frees every tab's models
    with gr.Blocks(title="Persona Studio") as demo:
        gr.Markdown("# Persona Studio")
        gr.Markdown(i18n("app.intro"))
        with gr.Tab(i18n("tab.persona")):
            persona = build_persona_tab(i18n)
        with gr.Tab(i18n("tab.format")):
            build_format_tab(i18n, persona)
        with gr.Tab(i18n("tab.train")):
            train = build_train_tab(i18n, persona, chats)
        with gr.Tab(i18n("tab.merge")) as merge_tab:
            merge_refresh, merge_outputs = build_merge_tab(i18n)
        with gr.Tab(i18n("tab.chat")) as chat_tab:
            chat_refresh, chat_outputs = build_chat_tab(i18n, chats)
        with gr.Tab(i18n("tab.eval")) as eval_tab:
            eval_refresh, eval_outputs = build_eval_tab(i18n)
        eval_tab.select(eval_refresh, None, eval_outputs, api_visibility="private")
        merge_tab.select(merge_refresh, None, merge_outputs, api_visibility="private")
        chat_tab.select(chat_refresh, None, chat_outputs, api_visibility="private")
        demo.load(persona.on_load, None, [persona.picker], api_visibility="private").then(
            persona.on_open, persona.open_inputs, persona.open_outputs, api_visibility="private")
        demo.load(train.attach, [train.current], [train.current], api_visibility="private").then(
            train.tick, [train.current], train.tick_outputs, api_visibility="private")
        demo.load(train.notice, None, [train.message], api_visibility="private")
        demo.load(train.defaults, None, train.widgets[1:], api_visibility="private").then(
            train.on_estimate, train.widgets, [train.memory], api_visibility="private")
    return demo, i18n
