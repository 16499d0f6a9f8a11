"""The Serve section (in the Chat tab): start and stop the OpenAI-compatible server as a background job; its line
shows the address and the models. A page refresh re-attaches to a running server."""
from __future__ import annotations

import gradio as gr

from studio.core.errors import StudioError
from studio.core.workspace import runs_dir
from studio.jobs.folders import resolve_run
from studio.jobs.params import ServeParams
from studio.serve.chat_session import ChatRegistry
from studio.serve.openai_api import check_bind
from studio.ui import job_panel as jp
from studio.ui.merge_tab import adapter_runs

KINDS = ("serve",)


def build_serve_panel(i18n: gr.I18n, lang: gr.State, chats: ChatRegistry) -> tuple:
    with gr.Accordion(i18n("serve.title_short"), open=False):
        gr.Markdown(i18n("serve.title"))
        with gr.Row():
            runs = gr.Dropdown(adapter_runs(), multiselect=True, allow_custom_value=True, label=i18n("serve.runs"),
                               scale=3)
            port = gr.Number(8000, precision=0, label=i18n("serve.port"))
            key = gr.Textbox(label=i18n("serve.key"), type="password")
            share = gr.Checkbox(False, label=i18n("serve.share"))
            go = gr.Button(i18n("serve.go"), variant="primary")
        panel = jp.job_panel(i18n)

    def params(picked, p, k, everywhere):
        try:
            port_n = int(p)
        except (TypeError, ValueError):
            raise StudioError("err.serve.bad_port") from None
        if not 1024 <= port_n <= 65535:
            raise StudioError("err.serve.bad_port")
        host = "0.0.0.0" if everywhere else "127.0.0.1"
        check_bind(host, (k or "").strip() or None)   # reachable from other machines: only with a key
        for ref in picked or []:
            resolve_run(ref, runs_dir(), inside=True)   # a run of this studio, never a folder elsewhere
        return ServeParams(list(picked or []), port_n, (k or "").strip(), host), f"port{port_n}"

    go.click(jp.starter("serve", chats, params), [runs, port, key, share, lang], [panel.line, panel.job],
             api_name="serve")
    panel.timer.tick(jp.show, [panel.job, lang], [panel.line, panel.bar], api_visibility="private",
                     show_progress="hidden")
    panel.stop.click(jp.stop, [panel.job, lang], [panel.line], api_name="serve_stop")

    def on_select(cur):
        ids = adapter_runs()
        return gr.Dropdown(choices=ids), jp.attach(KINDS)(cur)
    return on_select, [panel.job], [runs, panel.job]
