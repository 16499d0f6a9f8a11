"""The child process of every job: read params.json, run the task, write progress, result and status.

A stop request is honoured at the task's next progress report; any failure ends as state 'failed' with its reason
in both languages (the traceback goes to log.txt)."""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from studio.jobs.runner import report_progress, stop_requested
from studio.jobs.status import PARAMS, RESULT, State, error_fields, explain, pid_fields, write_status
from studio.locale import LANGS, T, Text, render
from studio.storage import atomic_write_text


class Stopped(Exception):
    """The user asked the job to stop."""


def _merge(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.merge import merge_adapter
    report = merge_adapter(p["ref"], p.get("out") or None, runs_dir, use_checkpoint=bool(p.get("use_checkpoint")),
                           progress=say)
    return report.summary_text()


def _combine(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.merge import combine_into_run
    run = combine_into_run(list(p["refs"]), list(p["weights"]), p["method"], runs_dir, float(p.get("density", 0.5)),
                           progress=say)
    return T("merge.combined", n=len(p["refs"]), how=p["method"], weights=p["weights"], run=run.name)


def _eval(p: dict, runs_dir: Path, say) -> Text:
    from studio.eval.evaluate import evaluate
    res = evaluate(p["ref"], p.get("prompts") or None, runs_dir, int(p.get("max_new_tokens") or 64), progress=say)
    return T("eval.done", n=len(res["answers"]), path=f"{p['ref']}/eval/results.json")


def _export(p: dict, runs_dir: Path, say) -> Text:
    from studio.export.export_run import export_run
    return export_run(p["ref"], p.get("quant") or "q8_0", p.get("out") or None, runs_dir, progress=say).summary_text()


def _serve(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.server_job import serve_until_stopped
    return serve_until_stopped(p, runs_dir, say)


def _draft(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.drafting import DraftRequest, draft
    fields = DraftRequest.__dataclass_fields__
    return draft(DraftRequest(**{k: v for k, v in p.items() if k in fields}), runs_dir, say)


TASKS = {"merge": _merge, "combine": _combine, "eval": _eval, "export": _export, "serve": _serve, "draft": _draft}


def run_job(folder: Path) -> int:
    """Run the job in this process. Exit code 0 finished or stopped, 1 failed."""
    folder = Path(folder)
    write_status(folder, state=State.RUNNING.value, **pid_fields(os.getpid()), started=time.time(), error=None)
    try:
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))

        def say(fraction: float, message: Text | str | None) -> None:
            """Report progress (None: only check for a stop request, writing nothing)."""
            if stop_requested(folder):
                raise Stopped
            if message is not None:
                report_progress(folder, fraction, message)

        summary = TASKS[params["kind"]](params, Path(params["runs_dir"]), say)
        atomic_write_text(folder / RESULT, json.dumps({"summary": {lang: render(summary, lang) for lang in LANGS}},
                                                      ensure_ascii=False, indent=1), keep_backups=0)
        write_status(folder, state=State.FINISHED.value, fraction=1.0, finished=time.time())
        return 0
    except Stopped:
        write_status(folder, state=State.STOPPED.value, finished=time.time())
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must reach status.json
        traceback.print_exc()
        write_status(folder, state=State.FAILED.value, **error_fields(explain(e)), finished=time.time())
        return 1
