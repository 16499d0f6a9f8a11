"""What each job kind does in its child process: params.json's fields -> a call into the package that owns the
work. The launcher (studio/jobs) knows these kinds only by name."""
from __future__ import annotations

from pathlib import Path

from studio.jobs.folders import Run, locate
from studio.jobs.params import (
    CombineParams,
    DraftParams,
    EvalParams,
    ExportParams,
    ImproveParams,
    MergeParams,
    ServeParams,
)
from studio.locale import T, Text


def _merge(p: MergeParams, runs_dir: Path, say) -> Text:
    from studio.export.model_card import card_for_merged
    from studio.serve.merge import merge_adapter
    report = merge_adapter(p.ref, p.out or None, runs_dir, use_checkpoint=p.use_checkpoint, progress=say)
    card_for_merged(report.out)
    return report.summary_text()


def _combine(p: CombineParams, runs_dir: Path, say) -> Text:
    from studio.serve.merge import combine_into_run
    run = combine_into_run(list(p.refs), list(p.weights), p.method, runs_dir, float(p.density), progress=say)
    return T("merge.combined", n=len(p.refs), how=p.method, weights=p.weights, run=run.name)


def _eval(p: EvalParams, runs_dir: Path, say) -> Text:
    if p.judge_url:
        from studio.eval.judge import Judge, judge_run, summary
        from studio.locale import LANGS, Rendered
        from studio.serve.votes import votes_path
        report = judge_run(p.ref, Judge(p.judge_url, p.judge_model, p.judge_key_env), runs_dir, votes_path(), say)
        return Rendered({lang: summary(report, lang) for lang in LANGS})
    if p.dialogs is not None:
        from studio.eval.dialogs import evaluate_dialogs
        data = evaluate_dialogs(p.ref, p.dialogs or None, runs_dir, int(p.max_new_tokens or 64),
                                say=say)
        return T("eval.dialogs_done", n=len({r["id"] for r in data["results"]}),
                 path=str(Run(locate(p.ref, runs_dir)).dialog_results))
    from studio.eval.evaluate import evaluate
    res = evaluate(p.ref, p.prompts or None, runs_dir, int(p.max_new_tokens or 64), progress=say,
                   against=p.against or "base")
    return T("eval.done", n=len(res.answers), path=str(Run(locate(p.ref, runs_dir)).results))


def _export(p: ExportParams, runs_dir: Path, say) -> Text:
    from studio.export.export_run import export_run
    return export_run(p.ref, p.quant or "q8_0", p.out or None, runs_dir, progress=say).summary_text()


def _serve(p: ServeParams, runs_dir: Path, say) -> Text:
    from studio.serve.server_job import serve_until_stopped
    return serve_until_stopped(p, runs_dir, say)


def _draft(p: DraftParams, runs_dir: Path, say) -> Text:
    from dataclasses import asdict

    from studio.serve.drafting import DraftRequest, draft
    return draft(DraftRequest(**asdict(p)), runs_dir, say)


def _improve(p: ImproveParams, runs_dir: Path, say) -> Text:
    """Improvement rounds inside this job: its folder (the launcher names it in the environment) keeps the rounds
    and their pairs; a stop request is watched in a thread so sampling and training stop at their next step."""
    import os
    import threading

    from studio.core.errors import Stopped
    from studio.jobs.launcher import OWN_JOB
    from studio.train.improve import ImproveSettings, improve
    stop, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(1.0):
            try:
                say(0.0, None)   # only asks whether a stop was requested
            except Stopped:
                stop.set()
                return
    threading.Thread(target=watch, name="improve-stop", daemon=True).start()
    try:
        rounds = improve(p.ref, runs_dir, ImproveSettings(
            rounds=p.rounds, samples=p.samples, general=p.general, votes=p.votes, max_steps=p.max_steps,
            max_new_tokens=p.max_new_tokens), say=say, job=Path(os.environ[OWN_JOB]), stop=stop)
    finally:
        done.set()
    kept = [r for r in rounds if r.kept]
    if kept:
        return T("improve.done", kept=len(kept), n=len(rounds), run=kept[-1].child)
    return T("improve.none_kept", why="; ".join(rounds[-1].failed) if rounds else "-",
             run=rounds[0].parent if rounds else p.ref)


TASKS = {"merge": _merge, "combine": _combine, "eval": _eval, "export": _export, "serve": _serve, "draft": _draft,
         "improve": _improve}
