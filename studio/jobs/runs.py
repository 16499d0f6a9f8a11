"""Training runs as a list: their status, metrics and checkpoints (the folder layout is jobs/folders.py)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.integrity import ADAPTER_CONFIG, adapter_problem
from studio.core.jsonl import append_jsonl, read_jsonl
from studio.jobs.checkpoints import latest_checkpoint
from studio.jobs.folders import CONTRACT, METRICS, STATUS, Run, locate
from studio.jobs.liveness import refresh
from studio.jobs.status import ACTIVE, State, Status, pid_alive


@dataclass
class RunInfo:
    id: str
    path: Path
    status: Status

    @property
    def state(self) -> str:
        return self.status.state


def append_metrics(run: Path, record: dict) -> None:
    append_jsonl(run / METRICS, [record])


def read_metrics(run: Path) -> list[dict]:
    """Logged steps; a line being written right now, a damaged one or one that is not ours is skipped."""
    return [r for r in read_jsonl(run / METRICS)
            if isinstance(r.get("step"), (int, float)) and not isinstance(r.get("step"), bool)]


def list_runs(runs_dir: Path) -> list[RunInfo]:
    if not runs_dir.exists():
        return []
    runs = [RunInfo(p.name, p, refresh(p)) for p in runs_dir.iterdir()
            if not p.is_symlink() and (p / STATUS).exists()]
    return sorted(runs, key=lambda r: r.id, reverse=True)


# Which runs each next step can take (the UI's pickers and the CLI ask these, never their own rule)
def can_be_parent(info: RunInfo) -> bool:
    """A preference run starts from a finished run with its adapter."""
    return info.state == State.FINISHED and Run(info.path).has_adapter()


def can_be_merged(info: RunInfo) -> bool:
    """Merge and export take a run's adapter, or an unfinished run's last checkpoint (on request)."""
    return Run(info.path).adapter.exists() or Run(info.path).checkpoints.exists()


def can_be_evaluated(info: RunInfo) -> bool:
    """Evaluation, chat and drafting load a run's adapter."""
    return Run(info.path).has_adapter()


def runs_that(rule, runs_dir: Path) -> list[str]:
    """The ids of the runs (newest first) that pass one of the rules above."""
    return [r.id for r in list_runs(runs_dir) if rule(r)]


def active_run(runs_dir: Path) -> RunInfo | None:
    return next((r for r in list_runs(runs_dir) if r.state in ACTIVE
                 and pid_alive(r.status.pid, r.status.pid_start)), None)


def adapter_dir(ref: str | Path, runs_dir: Path | None = None, use_checkpoint: bool = False) -> Path:
    """A run id, a run directory or an adapter folder -> the adapter folder (refusing a run still training)."""
    path = locate(ref, runs_dir)
    if (path / STATUS).exists():  # a run directory
        state = refresh(path).state
        if state in ACTIVE or state != State.FINISHED and not Run(path).adapter.exists():
            ckpt = latest_checkpoint(path)
            if not use_checkpoint or ckpt is None:
                raise StudioError("err.merge.run_unfinished", name=path.name, state=state)
            if not (ckpt / CONTRACT).exists():
                shutil.copy(Run(path).contract, ckpt / CONTRACT)
            return ckpt
        path = Run(path).adapter
    if not (path / ADAPTER_CONFIG).exists():
        raise StudioError("err.merge.not_an_adapter", ref=ref)
    problem = adapter_problem(path)
    if problem:
        raise StudioError("err.merge.adapter_unusable", path=path, problem=problem)
    return path
