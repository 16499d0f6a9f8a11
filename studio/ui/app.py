"""Builds the Gradio app: a language switch, then one tab per step of the loop. Only studio/ui imports gradio."""
from __future__ import annotations

import os

import gradio as gr

from studio.locale import lang_of, tr
from studio.serve.chat_session import ChatRegistry
from studio.ui.blank import marked, relabel
from studio.ui.chat_tab import build_chat_tab
from studio.ui.draft_panel import build_draft_panel
from studio.ui.eval_tab import build_eval_tab
from studio.ui.format_tab import build_format_tab
from studio.ui.guard import guard_all
from studio.ui.i18n import SWITCH_LABELS_JS, make_i18n, request_lang, uploads, uploads_shown
from studio.ui.improve_panel import build_improve_panel
from studio.ui.merge_tab import build_merge_tab
from studio.ui.persona_tab import build_persona_tab
from studio.ui.rules_panel import rules_frame
from studio.ui.serve_panel import build_serve_panel
from studio.ui.style import CSS
from studio.ui.train_tab import build_train_tab

# Settings that the app and the tests share (the tests launch what users launch). Events that must not overlap
# within a session (saves) set their own concurrency_limit=1.
QUEUE = dict(default_concurrency_limit=4)
REMEMBER_TAB_JS = """
() => {
  const key = 'persona-studio-tab';
  document.addEventListener('click', e => {
    const button = e.target.closest && e.target.closest('button[role=tab]');
    if (button && button.id && button.id.startsWith('tab-')) localStorage.setItem(key, button.id);
  }, true);
  const saved = localStorage.getItem(key);
  const reopen = left => {
    const button = saved && document.getElementById(saved);
    if (button) button.click(); else if (saved && left > 0) setTimeout(() => reopen(left - 1), 200);
  };
  reopen(25);
}
"""


def build_app() -> tuple[gr.Blocks, gr.I18n]:
    i18n = make_i18n()
    chats = ChatRegistry()  # this app's chat sessions, so a training start frees every tab's models
    with gr.Blocks(title="Persona Studio") as demo:
        # what this browser remembers across reloads: its language and the persona it had open
        memory = gr.BrowserState({"lang": None, "persona": None}, storage_key="persona-studio")
        lang = gr.State("en")  # this session's language for every message a handler writes
        with gr.Row(equal_height=True):
            gr.Markdown("# Persona Studio")
            lang_pick = gr.Radio([("English", "en"), ("日本語", "ja")], value=None, label="Language / 言語",
                                 elem_id="lang-pick", scale=0, min_width=220)
        gr.Markdown(i18n("app.intro"))
        with gr.Tabs():   # the tab this browser was on comes back after a reload (REMEMBER_TAB_JS)
            with gr.Tab(i18n("tab.persona"), id="persona", elem_id="tab-persona") as persona_tab:
                persona = build_persona_tab(i18n, lang)
                draft_select, draft_inputs, draft_outputs = build_draft_panel(i18n, persona, chats, lang)
            with gr.Tab(i18n("tab.format"), id="format", elem_id="tab-format") as format_tab:
                build_format_tab(i18n, persona, lang)
            with gr.Tab(i18n("tab.train"), id="train", elem_id="tab-train") as train_tab:
                train = build_train_tab(i18n, persona, chats, lang)
                improve_select, improve_inputs, improve_outputs = build_improve_panel(i18n, chats, lang)
            with gr.Tab(i18n("tab.merge"), id="merge", elem_id="tab-merge") as merge_tab:
                merge_select, merge_inputs, merge_outputs = build_merge_tab(i18n, lang, chats)
            with gr.Tab(i18n("tab.chat"), id="chat", elem_id="tab-chat") as chat_tab:
                chat_refresh, chat_outputs = build_chat_tab(i18n, chats, lang, train, persona.session)
                serve_select, serve_inputs, serve_outputs = build_serve_panel(i18n, lang, chats)
            with gr.Tab(i18n("tab.eval"), id="eval", elem_id="tab-eval") as eval_tab:
                eval_select, eval_inputs, eval_outputs, eval_redraw = build_eval_tab(i18n, lang, chats)
        persona_tab.select(draft_select, draft_inputs, draft_outputs, api_visibility="private")
        eval_tab.select(eval_select, eval_inputs, eval_outputs, api_visibility="private")
        merge_tab.select(merge_select, merge_inputs, merge_outputs, api_visibility="private")
        chat_tab.select(chat_refresh, None, chat_outputs, api_visibility="private")
        # the estimate follows the persona open now and the session's language (a reload opened the persona after
        # the first estimate, which then counted no rows: 2.3 GB, 3.0 GB, 2.3 GB for the same settings)
        estimate = (train.on_estimate, [persona.session, *train.widgets, lang], [train.memory])
        train_tab.select(*estimate, api_visibility="private")
        train_tab.select(improve_select, improve_inputs, improve_outputs, api_visibility="private")
        chat_tab.select(serve_select, serve_inputs, serve_outputs, api_visibility="private")

        def initial_lang(mem: dict | None, request: gr.Request) -> tuple[str, str]:
            chosen = (mem or {}).get("lang") or request_lang(request)
            return chosen, chosen

        def set_lang(choice: str | None) -> str:
            return lang_of(choice)

        def remember_lang(choice: str | None, mem: dict | None) -> dict:
            return {**(mem or {}), "lang": lang_of(choice)}

        def remember_persona(name: str | None, mem: dict | None) -> dict:
            return {**(mem or {}), "persona": name} if name else gr.skip()

        # the switch: labels change in the browser, messages on the server (the session's lang)
        tabs = {"tab.persona": persona_tab, "tab.format": format_tab, "tab.train": train_tab, "tab.merge": merge_tab,
                "tab.chat": chat_tab, "tab.eval": eval_tab}

        def tab_titles(lg: str) -> list:
            """gradio re-translates only the selected tab's title on a locale change: set every title."""
            return [gr.Tab(label=tr(lg, key)) for key in tabs]

        boxes = uploads(demo)   # redrawn on a switch (studio.ui.i18n.UPLOAD)
        lang_pick.change(set_lang, [lang_pick], [lang], js=SWITCH_LABELS_JS, api_name="set_language").then(
            remember_lang, [lang_pick, memory], [memory], api_visibility="private").then(
            tab_titles, [lang], list(tabs.values()), api_visibility="private").then(
            uploads_shown(boxes, False), None, boxes, api_visibility="private").then(
            uploads_shown(boxes, True), None, boxes, api_visibility="private").then(
            rules_frame, [persona.session, lang], [persona.rules_table], api_visibility="private")
        persona.picker.change(remember_persona, [persona.picker, memory], [memory], api_visibility="private")

        # first, tables and charts not yet filled get headers and axis titles in the reader's language
        # (studio.ui.blank); everything that fills them runs after, so a blank never lands on filled data
        tables, charts = marked(demo)
        loaded = demo.load(initial_lang, [memory], [lang, lang_pick], api_visibility="private").then(
            relabel(tables, charts), [lang, *tables], [*tables, *charts], api_visibility="private")
        loaded.then(persona.on_load, [memory], [persona.picker], api_visibility="private").then(
            persona.on_open, persona.open_inputs, persona.open_outputs, api_visibility="private").then(
            *estimate, api_visibility="private").then(
            rules_frame, [persona.session, lang], [persona.rules_table], api_visibility="private")
        loaded.then(train.attach, [train.current], [train.current], api_visibility="private").then(
            train.tick, [train.current, lang], train.tick_outputs, api_visibility="private").then(
            train.show_settings, [train.current], train.settings_outputs, api_visibility="private")
        loaded.then(train.notice, [lang], [train.message], api_visibility="private")
        # the tab this browser was on: remembered and clicked again in the page itself (gradio selects the first
        # tab at every load and reports that as a select, so a server-side memory was overwritten by it)
        demo.load(None, None, None, js=REMEMBER_TAB_JS)
        # a refreshed page re-attaches to the running (or latest) merge and evaluation jobs
        loaded.then(merge_select, merge_inputs, merge_outputs, api_visibility="private")
        loaded.then(eval_select, eval_inputs, eval_outputs, api_visibility="private")
        loaded.then(serve_select, serve_inputs, serve_outputs, api_visibility="private")
        loaded.then(draft_select, draft_inputs, draft_outputs, api_visibility="private")
        # a switch by the reader (not the load's own setting of the radio, which would race the fills above)
        lang_pick.input(lang_of, [lang_pick], None, api_visibility="private").then(
            relabel(tables, charts), [lang_pick, *tables], [*tables, *charts], api_visibility="private").then(
            eval_redraw[0], [*eval_redraw[1], lang_pick], eval_redraw[2], api_visibility="private")
    guard_all(demo)  # every handler: a sentence for the user, the traceback to the log file
    return demo, i18n


def main() -> None:
    """Start the studio on 127.0.0.1 (port: $GRADIO_SERVER_PORT, default 7860): `python app.py` or `persona-studio`."""
    demo, i18n = build_app()
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"Persona Studio: http://127.0.0.1:{port}  (your files: {os.environ.get('STUDIO_HOME', 'workspace')}/)")
    demo.queue(**QUEUE).launch(server_name="127.0.0.1", server_port=port, i18n=i18n, css=CSS)
