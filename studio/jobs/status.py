"""A job or run folder's status file: its fixed vocabulary of states, read and written safely. No torch, no gradio.

A status file that is missing, damaged or of the wrong shape reads as state 'unknown' (shown, never raised); a
worker whose process is gone is turned into 'failed' by whoever reads it next."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path

from studio.core.storage import atomic_write_text
from studio.locale import LANGS, Text, render


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"   # no readable status file: shown as damaged


ACTIVE = (State.QUEUED, State.RUNNING, State.STOPPING)
LIVE = (State.RUNNING, State.STOPPING)   # a worker process should exist
STATUS, PROGRESS, LOG, STOP, PARAMS, RESULT = ("status.json", "progress.jsonl", "log.txt", "stop", "params.json",
                                               "result.json")


@dataclass
class Status:
    """What a status.json holds: one record, every field named here and nowhere else. A field missing from the file,
    or of the wrong type (a stale or edited file), reads as None; a file that is missing, damaged or of the wrong
    shape reads as state 'unknown'."""
    state: str = State.UNKNOWN.value
    pid: int | None = None            # the worker process (with its start time, to tell it from a later one)
    pid_start: float | None = None
    step: int | None = None           # training steps done and planned
    total: int | None = None
    eta_s: float | None = None
    fraction: float | None = None     # a job's progress (0..1) and its last message in every language
    message: dict | None = None
    phase: dict | None = None         # the training phase before/after the steps: name, since, done/total, eta_s
    created: float | None = None      # times (seconds since the epoch)
    started: float | None = None
    finished: float | None = None
    updated: float | None = None
    error: str | None = None          # a failure's reason in English, and in every language beside it
    error_i18n: dict | None = None
    kind: str | None = None           # a job's kind (merge, eval, ...)
    method: str | None = None         # a preference run's method and the run it started from
    parent_run: str | None = None
    combined_from: list | None = None  # a combined run: its adapters and their weights
    weights: list | None = None
    versions: dict | None = None      # the library versions that trained it
    ranks: dict | None = None         # several processes: world size, ranks on this machine, machine rank
    outcome: str | None = None        # several processes: how rank 0 ended, before the launcher writes the state

    @classmethod
    def from_dict(cls, data) -> Status:
        if not isinstance(data, dict):
            return cls()
        kinds = {f.name: _KINDS[f.type] for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in kinds and _fits(v, kinds[k])}
        status = cls(**values)
        if status.state not in {s.value for s in State}:
            status.state = State.UNKNOWN.value
        if status.state in LIVE and status.pid is None:
            status.state = State.UNKNOWN.value  # running, but by no process we can check: damaged
        return status

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def steps(self) -> str:
        """'done/planned' steps, '?' for a plan not known yet."""
        return f"{self.step or 0}/{'?' if self.total is None else self.total}"


_KINDS = {"str": str, "int | None": int, "float | None": float, "str | None": str, "dict | None": dict,
          "list | None": list}
STATUS_FIELDS = frozenset(f.name for f in fields(Status))


def _fits(value, kind: type) -> bool:
    if value is None:
        return kind is not str
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def read_status(folder: Path) -> Status:
    """The status, whose 'state' is always one of State (damaged or missing -> unknown)."""
    try:
        data = json.loads((folder / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Status()
    return Status.from_dict(data)


def write_status(folder: Path, **changes) -> Status:
    """Update these fields (a name that is not a Status field is a mistake in the code: TypeError)."""
    unknown = set(changes) - STATUS_FIELDS
    if unknown:
        raise TypeError(f"not status fields: {', '.join(sorted(unknown))}")
    status = replace(read_status(folder), **{k: (v.value if isinstance(v, StrEnum) else v)
                                               for k, v in changes.items()}, updated=time.time())
    if status.state == State.UNKNOWN:
        status.state = State.QUEUED.value
    durable = status.state not in LIVE  # per-step rewrites need only the rename
    atomic_write_text(folder / STATUS, json.dumps(status.to_dict(), ensure_ascii=False, indent=1), keep_backups=0,
                      durable=durable)
    return status


NO_ERROR = {"error": None, "error_i18n": None}   # a new attempt (start, resume) forgets the last one's failure


def error_fields(message: Text) -> dict:
    """A failure's reason for status.json: English under 'error' (scripts, the CLI), every language beside it."""
    return {"error": render(message, "en"), "error_i18n": {lang: render(message, lang) for lang in LANGS}}


def explain(err: BaseException) -> Text:
    """Why a worker failed, as a message in both languages (a library's own text is kept as it is)."""
    from studio.core.errors import StudioError
    from studio.locale import T
    text = str(err)
    if isinstance(err, StudioError):
        return T(err.key, **err.params)
    if "out of memory" in text.lower() or type(err).__name__ == "OutOfMemoryError":
        return T("train.oom")
    if isinstance(err, OSError) and getattr(err, "errno", None) == 28:
        return T("train.disk_full")
    return T("train.crashed", kind=type(err).__name__, text=text.splitlines()[0][:300] if text else "")


def localized_error(status: Status, lang: str) -> str:
    return str((status.error_i18n or {}).get(lang) or status.error or "")


def process_start(pid: int) -> float | None:
    """When the process started (seconds since the epoch, psutil), to tell it from a later process given its pid."""
    import psutil
    try:
        return round(psutil.Process(pid).create_time(), 3)
    except (psutil.Error, ValueError, OverflowError):
        return None


def pid_fields(pid: int) -> dict:
    return {"pid": pid, "pid_start": process_start(pid)}


def pid_alive(pid: int | None, started: float | None = None) -> bool:
    """Is the worker still running? A zombie is not, and neither is another process that now has its pid."""
    import psutil
    if not pid or not isinstance(pid, int) or isinstance(pid, bool):
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:   # a killed child not yet reaped is dead for our purposes
            return False
        if not isinstance(started, (int, float)) or isinstance(started, bool):
            # no start time to compare (an old or edited status): one of ours, or dead
            return any("studio" in part for part in proc.cmdline())
        return abs(proc.create_time() - started) < 0.01
    except psutil.AccessDenied:
        return True
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ValueError, OverflowError):
        return False
