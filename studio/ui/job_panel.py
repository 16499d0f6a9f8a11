"""The widgets every background job shows (status line, progress bar, Stop), and their wiring. The job runs in a
child process (studio.jobs); these only read its folder, so a page refresh re-attaches to it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.core.errors import StudioError
from studio.core.workspace import runs_dir
from studio.jobs.launcher import describe, request_stop, start_job, to_follow
from studio.locale import T, render, tr
from studio.serve.chat_session import ChatRegistry
from studio.train.views import progress_html


@dataclass
class JobPanel:
    job: gr.State        # this browser tab's job folder (str)
    line: gr.Textbox
    bar: gr.HTML
    stop: gr.Button
    timer: gr.Timer


def job_panel(i18n: gr.I18n) -> JobPanel:
    job = gr.State(None)
    with gr.Row():
        line = gr.Textbox(label=i18n("job.progress"), interactive=False, lines=2, scale=5)
        stop = gr.Button(i18n("train.stop"), variant="stop", scale=1)
    bar = gr.HTML(progress_html(0))
    return JobPanel(job, line, bar, stop, gr.Timer(1.5))


def starter(kind: str, chats: ChatRegistry, params: Callable[..., tuple[dict, str]]):
    """A click handler: build the job's params from the widgets, free the chat models, start the job."""
    def start(*values):
        *values, lg = values
        try:
            p, label = params(*values)
            folder = start_job(kind, p, runs_dir(), label)
        except StudioError as e:
            return e.render(lg), gr.skip()
        return render(T("job.started", name=folder.name, released=chats.release_for_job()), lg), str(folder)
    return start


def attach(kinds: tuple[str, ...]):
    """On page load or tab select: this tab's job, else the running (or latest) job of these kinds."""
    def pick(cur: str | None) -> str | None:
        return to_follow(runs_dir(), kinds, cur)
    return pick


def show(cur: str | None, lg: str):
    """The job's line and bar; with no job, nothing changes (a refused start's message stays readable)."""
    if not cur:
        return gr.skip(), gr.skip()
    text, frac = describe(Path(cur), lg)
    return text, progress_html(frac)


def stop(cur: str | None, lg: str, none_key: str = "job.none", done_key: str = "job.stop_requested") -> str:
    """Ask the followed run or job to stop (training runs and jobs alike); says so, or why not."""
    if not cur:
        return tr(lg, none_key)
    try:
        request_stop(Path(cur))
        return tr(lg, done_key)
    except StudioError as e:
        return e.render(lg)
