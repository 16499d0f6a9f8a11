"""The Train tab's Improve panel: improvement rounds (studio/train/improve.py) as a job of the one launcher — the run
to improve, the round settings, the estimate before Start, the job's line and Stop, and the rounds so far (each a
run of its own: SFT -> round 1 -> round 2). The handlers are plain functions, tested without a server."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.core.workspace import runs_dir
from studio.jobs.folders import JobFolder, Run, find_run
from studio.jobs.params import ImproveParams
from studio.jobs.runs import can_be_parent, runs_that
from studio.locale import tr
from studio.serve.chat_session import ChatRegistry
from studio.ui import job_panel as jp
from studio.ui.blank import blank

KIND = ("improve",)
ROUND_COLUMNS = ("round", "from", "to", "pairs", "votes", "kept", "failed")


def run_choices() -> list[str]:
    """Runs that can be improved: finished, with an adapter (newest first)."""
    return runs_that(can_be_parent, runs_dir())


def _settings(rounds, samples, general, max_steps):
    from studio.train.improve import ImproveSettings
    try:
        steps = int(max_steps) if max_steps is not None else 0
        return ImproveSettings(rounds=int(rounds), samples=int(samples), general=int(general), max_steps=steps or None)
    except (TypeError, ValueError):
        from studio.train.improve import MAX_GENERAL, MAX_ROUNDS, MAX_SAMPLES
        raise StudioError("err.improve.rounds", max=MAX_ROUNDS, samples=MAX_SAMPLES, general=MAX_GENERAL) from None


def improve_params(ref, rounds, samples, general, use_votes, max_steps) -> tuple[ImproveParams, str]:
    """The job's params from the panel, checked (a run to improve, numbers a round can use)."""
    from studio.serve.votes import votes_path
    if not (ref or "").strip():
        raise StudioError("improve.no_run")
    run = Run(find_run(ref, runs_dir()))
    s = _settings(rounds, samples, general, max_steps)
    s.check()
    votes = str(votes_path()) if use_votes and votes_path().is_file() else ""
    return ImproveParams(ref=run.id, rounds=s.rounds, samples=s.samples, general=s.general, votes=votes,
                         max_steps=s.max_steps), run.id


def estimate(ref, rounds, samples, general, max_steps, lg: str) -> str:
    """Minutes a round takes on a 2-core CPU with the default model, said before Start."""
    from studio.data.persona_store import load_persona
    from studio.train.improve import estimate_s
    from studio.train.methods import get_method
    if not (ref or "").strip():
        return tr(lg, "improve.no_run")
    try:
        s = _settings(rounds, samples, general, max_steps)
        s.check()
        questions = len(load_persona(Run(find_run(ref, runs_dir())).data).pairs)
    except StudioError as e:
        return e.render(lg)
    steps = s.max_steps or get_method("dpo").max_steps or 0
    per = estimate_s(questions, s, steps) / 60
    return tr(lg, "improve.estimate", min=f"{per:.0f}", replies=(questions + s.general) * s.samples, steps=steps,
              total=f"{per * s.rounds:.0f}", rounds=s.rounds)


def rounds_frame(job: str | None, lg: str) -> pd.DataFrame:
    """The followed improvement job's rounds (its rounds.json), localized column names."""
    rows = []
    if job:
        try:
            data = json.loads(JobFolder(Path(job)).rounds.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = []
        for r in data if isinstance(data, list) else []:
            if isinstance(r, dict):
                done = bool(r.get("failed")) or r.get("kept")
                rows.append([r.get("index"), r.get("parent"), r.get("child") or "-", r.get("pairs"),
                             r.get("from_votes"), ("✓" if r.get("kept") else "✗") if done else "…",
                             "; ".join(map(str, r.get("failed") or []))])
    return pd.DataFrame(rows, columns=[tr(lg, f"improve.col.{c}") for c in ROUND_COLUMNS])


def tick(job: str | None, lg: str):
    line, bar = jp.show(job, lg)
    return line, bar, rounds_frame(job, lg) if job else gr.skip()


def on_select(cur: str | None, picked: str | None):
    """Tab opened: fresh run choices (the picked one kept), and the running (or latest) improvement followed."""
    ids = run_choices()
    value = picked if picked in ids else (ids[0] if ids else None)
    return gr.Dropdown(choices=ids, value=value), jp.attach(KIND)(cur)


def build_improve_panel(i18n: gr.I18n, chats: ChatRegistry, lang: gr.State):
    """Returns (on_select, its inputs, its outputs) for the Train tab's select event."""
    from studio.train.improve import ImproveSettings
    d = ImproveSettings()
    with gr.Accordion(i18n("improve.title"), open=False, elem_id="improve-panel"):
        gr.Markdown(i18n("improve.hint"))
        with gr.Row():
            ref = gr.Dropdown(run_choices(), value=None, allow_custom_value=True, label=i18n("improve.from"), scale=3)
            rounds = gr.Number(d.rounds, precision=0, minimum=1, label=i18n("improve.rounds"))
            samples = gr.Number(d.samples, precision=0, minimum=2, label=i18n("improve.samples"))
            general = gr.Number(d.general, precision=0, minimum=0, label=i18n("improve.general"))
            max_steps = gr.Number(0, precision=0, minimum=0, label=i18n("improve.max_steps"))
        with gr.Row():
            use_votes = gr.Checkbox(False, label=i18n("improve.use_votes"))
            go = gr.Button(i18n("improve.start"), variant="primary", scale=0)
        note = gr.Markdown(elem_id="improve-estimate")
        panel = jp.job_panel(i18n)
        table = blank(gr.Dataframe(headers=list(ROUND_COLUMNS), interactive=False, wrap=True,
                                   label=i18n("improve.rounds_table")), lambda lg: rounds_frame(None, lg))
    knobs = [ref, rounds, samples, general, max_steps]
    for w in knobs:
        w.change(estimate, [*knobs, lang], [note], api_visibility="private", trigger_mode="always_last")
    go.click(jp.starter("improve", chats, improve_params), [ref, rounds, samples, general, use_votes, max_steps, lang],
             [panel.line, panel.job], api_name="improve")
    panel.timer.tick(tick, [panel.job, lang], [panel.line, panel.bar, table], api_visibility="private",
                     show_progress="hidden")
    panel.stop.click(jp.stop, [panel.job, lang], [panel.line], api_name="improve_stop")
    gr.Button(i18n("train.refresh"), size="sm").click(tick, [panel.job, lang], [panel.line, panel.bar, table],
                                                       api_name="improve_progress")
    return on_select, [panel.job, ref], [ref, panel.job]
