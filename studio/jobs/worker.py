"""The child process of every job: read params.json, run the task of its kind (the table is studio/cli/tasks.py, so
this layer imports none of the packages above it), write progress, result and status.

A stop request is honoured at the task's next progress report; any failure ends as state 'failed' with its reason
in both languages (the traceback goes to log.txt)."""
from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from studio.core.errors import Stopped
from studio.core.storage import atomic_write_text
from studio.jobs.launcher import report_progress, stop_requested
from studio.jobs.params import JobParams, from_file
from studio.jobs.status import (
    NO_ERROR,
    PARAMS,
    RESULT,
    State,
    error_fields,
    explain,
    pid_fields,
    read_status,
    write_status,
)
from studio.jobs.stopwatch import LoadWatch
from studio.locale import LANGS, T, Text, render

# the progress messages a task reports just before loading a model, which writes nothing
Task = Callable[[JobParams, Path, Callable], Text]  # (params, runs_dir, say) -> the summary


def run_job(folder: Path, tasks: dict[str, Task]) -> int:
    """Run the job in this process with the task its kind names. Exit code 0 finished or stopped, 1 failed."""
    folder = Path(folder)
    write_status(folder, state=State.RUNNING.value, **pid_fields(os.getpid()), started=time.time(), **NO_ERROR)

    def stopped_while_loading() -> None:
        report_progress(folder, read_status(folder).fraction or 0.0, T("job.stopped_loading"))
        write_status(folder, state=State.STOPPED.value, finished=time.time())

    watch = LoadWatch(folder, stopped_while_loading)
    try:
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))

        def say(fraction: float, message: Text | str | None) -> None:
            """Report progress (None: only check for a stop request, writing nothing). After a loading message the
            task is inside one long call until its next report: a stop then ends the process at once."""
            if stop_requested(folder):
                raise Stopped
            if message is not None:
                report_progress(folder, fraction, message)
                if getattr(message, "loading", False):
                    watch.arm()
                else:
                    watch.disarm()

        summary = tasks[params["kind"]](from_file(params), Path(params["runs_dir"]), say)
        atomic_write_text(folder / RESULT, json.dumps({"summary": {lang: render(summary, lang) for lang in LANGS}},
                                                      ensure_ascii=False, indent=1), keep_backups=0)
        write_status(folder, state=State.FINISHED.value, fraction=1.0, finished=time.time())
        return 0
    except Stopped as stopped:
        if stopped.note is not None:
            report_progress(folder, read_status(folder).fraction or 0.0, stopped.note)
        write_status(folder, state=State.STOPPED.value, finished=time.time())
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must reach status.json
        traceback.print_exc()
        write_status(folder, state=State.FAILED.value, **error_fields(explain(e)), finished=time.time())
        return 1
    finally:
        watch.close()
