"""Run directories (DESIGN.md): status, metrics, stop requests, dead-process detection, one training at a time."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.jobs.status import (  # noqa: F401 - LOG and error_fields are used through this module too
    ACTIVE, LIVE, LOG, STATUS, State, STOP, error_fields, pid_alive, read_status, write_status)
from studio.locale import T
from studio.integrity import checkpoint_problem
from studio.train.folder import CONFIG, METRICS, Run  # noqa: F401 - CONFIG is used through this module



@dataclass
class RunInfo:
    id: str
    path: Path
    status: dict

    @property
    def state(self) -> str:
        return self.status.get("state", State.UNKNOWN)


def new_run_dir(runs_dir: Path, label: str) -> Path:
    slug = re.sub(r"[^\w-]+", "-", label, flags=re.UNICODE).strip("-")[:32] or "run"
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{slug}"
    path, n = runs_dir / base, 1
    while path.exists():
        n += 1
        path = runs_dir / f"{base}-{n}"
    path.mkdir(parents=True)
    return path


def append_metrics(run: Path, record: dict) -> None:
    with open(run / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run: Path) -> list[dict]:
    try:
        lines = (run / METRICS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line being written right now, or a damaged one
        if isinstance(record, dict) and isinstance(record.get("step"), (int, float)) \
                and not isinstance(record.get("step"), bool):
            out.append(record)  # anything else is not ours: skipped, never shown as a crash
    return out


def refresh(run: Path) -> dict:
    """The status, with a dead worker turned into `failed` (and written back)."""
    status = read_status(run)
    if status.get("state") in LIVE and not pid_alive(status.get("pid"), status.get("pid_start")):
        ckpt = latest_checkpoint(run)
        where = T("train.died_resume", ckpt=ckpt.name) if ckpt else T("train.died_no_ckpt")
        status = write_status(run, state=State.FAILED, **error_fields(T("train.died", where=where)))
    return status


def list_runs(runs_dir: Path) -> list[RunInfo]:
    if not runs_dir.exists():
        return []
    runs = [RunInfo(p.name, p, refresh(p)) for p in runs_dir.iterdir() if (p / STATUS).exists()]
    return sorted(runs, key=lambda r: r.id, reverse=True)


def find_run(ref: str, runs_dir: Path) -> Path:
    path = Path(ref)
    if (path / STATUS).exists() or (path / CONFIG).exists():
        return path
    if (runs_dir / ref / CONFIG).exists():
        return runs_dir / ref
    raise StudioError("err.train_runs.1", ref=ref, runs_dir=runs_dir)


def active_run(runs_dir: Path) -> RunInfo | None:
    return next((r for r in list_runs(runs_dir) if r.state in ACTIVE
                 and pid_alive(r.status.get("pid"), r.status.get("pid_start"))), None)


def request_stop(run: Path) -> None:
    status = refresh(run)
    if status.get("state") not in ACTIVE:
        raise StudioError("err.train_runs.2", name=run.name, get=status.get('state'))
    (run / STOP).write_text("stop requested\n")
    write_status(run, state="stopping")


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint folder, newest first."""
    found = []
    for p in Run(run).checkpoints.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def damaged_checkpoints(run: Path) -> list[tuple[str, str]]:
    """(name, problem) of the checkpoints newer than the one resume would use: they are skipped."""
    out = []
    for _, p in checkpoints(run):
        problem = checkpoint_problem(p)
        if problem is None:
            break
        out.append((p.name, problem))
    return out


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint whose files are whole (one half-written by a kill or a full disk is skipped)."""
    return next((p for _, p in checkpoints(run) if checkpoint_problem(p) is None), None)
