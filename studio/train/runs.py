"""Run directories (DESIGN.md): status, metrics, stop requests, dead-process detection, one training at a time."""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.locale import LANGS, T, Text, render
from studio.integrity import checkpoint_problem
from studio.storage import atomic_write_text

ACTIVE = ("queued", "running", "stopping")
STATUS, METRICS, CONFIG, LOG, STOP = "status.json", "metrics.jsonl", "config.yaml", "log.txt", "stop"


@dataclass
class RunInfo:
    id: str
    path: Path
    status: dict

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")


def new_run_dir(runs_dir: Path, label: str) -> Path:
    slug = re.sub(r"[^\w-]+", "-", label, flags=re.UNICODE).strip("-")[:32] or "run"
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{slug}"
    path, n = runs_dir / base, 1
    while path.exists():
        n += 1
        path = runs_dir / f"{base}-{n}"
    path.mkdir(parents=True)
    return path


def read_status(run: Path) -> dict:
    try:
        return json.loads((run / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "unknown"}


def write_status(run: Path, **changes) -> dict:
    status = {**read_status(run), **changes, "updated": time.time()}
    if status.get("state") == "unknown":
        status["state"] = "queued"
    atomic_write_text(run / STATUS, json.dumps(status, ensure_ascii=False, indent=1), keep_backups=0,
                      durable=status["state"] not in ("running", "stopping"))
    return status


def error_fields(message: Text) -> dict:
    """A failed run's reason for status.json: English under 'error' (scripts, the CLI), every language beside it."""
    return {"error": render(message, "en"), "error_i18n": {lang: render(message, lang) for lang in LANGS}}


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
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return out


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed child not yet reaped) is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def refresh(run: Path) -> dict:
    """The status, with a dead worker turned into `failed` (and written back)."""
    status = read_status(run)
    if status.get("state") in ("running", "stopping") and not pid_alive(status.get("pid")):
        ckpt = latest_checkpoint(run)
        where = T("train.died_resume", ckpt=ckpt.name) if ckpt else T("train.died_no_ckpt")
        status = write_status(run, state="failed", **error_fields(T("train.died", where=where)))
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
    return next((r for r in list_runs(runs_dir) if r.state in ACTIVE and pid_alive(r.status.get("pid"))), None)


def request_stop(run: Path) -> None:
    status = refresh(run)
    if status.get("state") not in ACTIVE:
        raise StudioError("err.train_runs.2", name=run.name, get=status.get('state'))
    (run / STOP).write_text("stop requested\n")
    write_status(run, state="stopping")


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint folder, newest first."""
    found = []
    for p in (run / "checkpoints").glob("checkpoint-*"):
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
