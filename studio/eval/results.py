"""Saved evaluation results: a run's eval/results.json, and the results an evaluation job produced. Reading only;
a missing or damaged file reads as None (the Evaluate tab then says 'not evaluated yet'). No torch."""
from __future__ import annotations

import json
from pathlib import Path

from studio.jobs.folders import JobFolder, Run
from studio.jobs.launcher import result
from studio.jobs.status import State, read_status


def saved_results(ref: str | None, runs_dir: Path, against: str = "base") -> dict | None:
    """The results of run `ref` against the base or its parent (a run id only: never a path that leaves the runs
    folder)."""
    if not ref or Path(str(ref)).name != str(ref) or str(ref) in (".", ".."):
        return None
    run = Run(runs_dir / str(ref))
    path = run.results_parent if against == "parent" else run.results
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def job_results(job: str | Path, runs_dir: Path) -> tuple[dict, dict] | None:
    """(results, the job's summary by language) of a finished evaluation job, else None."""
    folder = JobFolder(Path(job))
    if read_status(folder.path).state != State.FINISHED:
        return None
    try:
        params = json.loads(folder.params.read_text(encoding="utf-8"))
        ref, against = params["ref"], params.get("against") or "base"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    res = saved_results(ref, runs_dir, against)
    summary = result(folder.path).get("summary", {})
    return (res, summary if isinstance(summary, dict) else {}) if res is not None else None
