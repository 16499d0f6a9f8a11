"""A job or run folder's status file: its fixed vocabulary of states, read and written safely. No torch, no gradio.

A status file that is missing, damaged or of the wrong shape reads as state 'unknown' (shown, never raised); a
worker whose process is gone is turned into 'failed' by whoever reads it next."""
from __future__ import annotations

import json
import os
import time
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


def read_status(folder: Path) -> dict:
    """The status as a dict whose 'state' is always one of State (damaged or missing -> unknown)."""
    try:
        data = json.loads((folder / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": State.UNKNOWN.value}
    if not isinstance(data, dict):
        return {"state": State.UNKNOWN.value}
    if data.get("state") not in {s.value for s in State}:
        data["state"] = State.UNKNOWN.value
    for key in ("pid", "step", "total"):
        if key in data and not (isinstance(data[key], int) or data[key] is None):
            data[key] = None  # a wrong type is not trusted (a stale or edited file)
    if data["state"] in LIVE and not isinstance(data.get("pid"), int):
        data["state"] = State.UNKNOWN.value  # running, but by no process we can check: damaged
    return data


def write_status(folder: Path, **changes) -> dict:
    status = {**read_status(folder), **changes, "updated": time.time()}
    if status.get("state") == State.UNKNOWN:
        status["state"] = State.QUEUED.value
    durable = status["state"] not in LIVE  # per-step rewrites need only the rename
    atomic_write_text(folder / STATUS, json.dumps(status, ensure_ascii=False, indent=1), keep_backups=0,
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


def localized_error(status: dict, lang: str) -> str:
    texts = status.get("error_i18n") if isinstance(status.get("error_i18n"), dict) else {}
    return str(texts.get(lang) or status.get("error") or "")


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell it from a later process given its pid."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_fields(pid: int) -> dict:
    return {"pid": pid, "pid_start": process_start(pid)}


def pid_alive(pid: int | None, started: int | None = None) -> bool:
    """Is the worker still running? A zombie is not, and neither is another process that now has its pid."""
    if not pid or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:  # a zombie (killed child not yet reaped) is dead for our purposes
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if fields[0] == "Z":
        return False
    if not isinstance(started, int):   # no start time to compare (an old or edited status): one of ours, or dead
        try:
            return b"studio" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    return not (fields[19].isdigit() and int(fields[19]) != started)
