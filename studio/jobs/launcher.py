"""The one launcher of every long job — training, merge, combine, evaluate, export, serve, draft, improve: start,
follow, stop. Training runs as `python -m studio _worker RUN`, every other job as `python -m studio _job FOLDER`, each
with its output in the folder's log.txt; the UI and the CLI read only the folder's files. No torch, no gradio."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jsonl import dumps_line
from studio.core.storage import atomic_write_text
from studio.core.workspace import PACKAGE_ROOT
from studio.jobs.folders import jobs_dir, new_job_folder
from studio.jobs.liveness import refresh
from studio.jobs.params import KIND_OF, PARAMS_OF, JobParams, to_file
from studio.jobs.status import (
    ACTIVE,
    LOG,
    PARAMS,
    PROGRESS,
    RESULT,
    STATUS,
    STOP,
    State,
    Status,
    pid_fields,
    write_status,
)
from studio.locale import LANGS, T, Text, render

KINDS = ("merge", "combine", "eval", "export", "serve", "draft", "improve")  # jobs of runs/.jobs; training is a run
OWN_JOB = "STUDIO_JOB_FOLDER"   # set in a job's process: the job that starts runs of its own (improve) is not 'busy'



@dataclass
class JobInfo:
    path: Path
    kind: str
    status: Status

    @property
    def state(self) -> str:
        return self.status.state


def list_jobs(runs_dir: Path, kinds: tuple[str, ...] = KINDS) -> list[JobInfo]:
    """Jobs of these kinds, newest first; a folder with a damaged status file is listed as unknown."""
    root = jobs_dir(runs_dir)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True):
        kind = _kind_of(folder)
        if kind in kinds:
            out.append(JobInfo(folder, kind, refresh(folder)))
    return out


def _kind_of(folder: Path) -> str:
    try:
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))
        return str(params.get("kind")) if isinstance(params, dict) else ""
    except (OSError, ValueError):
        m = re.match(r"\d{8}-\d{6}-([a-z]+)", folder.name)
        return m.group(1) if m else ""


def to_follow(runs_dir: Path, kinds: tuple[str, ...], current: str | None) -> str | None:
    """Which folder a page follows: the running run or job of these kinds ("train" for training runs), else the
    one this page followed, else the latest; None when there is none."""
    if "train" in kinds:
        from studio.jobs.runs import list_runs
        entries = [(r.path, r.state) for r in list_runs(runs_dir)]
    else:
        entries = [(j.path, j.state) for j in list_jobs(runs_dir, kinds)]
    active = next((path for path, state in entries if state in ACTIVE), None)
    pick = active or current or (entries[0][0] if entries else None)
    return str(pick) if pick else None


def busy_with(runs_dir: Path) -> str | None:
    """What holds the GPU now: an active training run or job (its name), else None. The job this process runs is
    not counted: an improvement job trains and evaluates runs of its own."""
    from studio.jobs.runs import active_run
    run = active_run(runs_dir)
    if run:
        return run.id
    own = Path(os.environ[OWN_JOB]).resolve() if os.environ.get(OWN_JOB) else None
    job = next((j for j in list_jobs(runs_dir) if j.state in ACTIVE and j.path.resolve() != own), None)
    return job.path.name if job else None


@contextmanager
def one_at_a_time(runs_dir: Path):
    """Held from 'is the GPU free?' until the new job's process is recorded: two starts at once cannot both pass
    the check. The lock is on the folder that holds the runs folder (flock on a directory: nothing is created, and
    it is released when the holder ends, even killed)."""
    import fcntl
    target = Path(runs_dir).resolve().parent
    while not target.exists():
        target = target.parent
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing releases the lock


def start_job(kind: str, params: JobParams, runs_dir: Path, label: str = "") -> Path:
    """Queue nothing: start the job now in its own process, or say plainly what is using the GPU."""
    if kind not in KINDS:
        raise StudioError("job.unknown_kind", kind=kind, kinds=", ".join(KINDS))
    if KIND_OF.get(type(params)) != kind:
        raise TypeError(f"a {kind} job takes {PARAMS_OF[kind].__name__}, not {type(params).__name__}")
    with one_at_a_time(runs_dir):
        return _start_job(kind, params, runs_dir, label)


def ensure_free(runs_dir: Path) -> None:
    """Refuse, naming it, when a run or job holds the device: the app's starts and the CLI's foreground commands
    (serve, draft, merge, eval, export) alike."""
    busy = busy_with(runs_dir)
    if busy:
        from studio.core.models import device
        raise StudioError("job.busy", name=busy, device=T("device.gpu") if device() == "cuda" else T("device.cpu"))


@contextmanager
def foreground_job(runs_dir: Path, kind: str, label: str = "") -> Iterator[Path]:
    """A job the command line runs in its own process (merge, eval, export, draft, combine in a terminal): checked
    and registered like the app's (a job folder with this process's pid), so the app sees the device busy while
    it runs and the command sees the app's jobs; finished, failed or stopped (Ctrl-C) when it ends."""
    with one_at_a_time(runs_dir):
        ensure_free(runs_dir)
        folder = new_job_folder(runs_dir, kind, label).path
        atomic_write_text(folder / PARAMS, json.dumps({"kind": kind, "runs_dir": str(runs_dir), "foreground": True},
                                                     ensure_ascii=False, indent=1), keep_backups=0)
        write_status(folder, state=State.RUNNING.value, created=time.time(), started=time.time(), kind=kind,
                     **pid_fields(os.getpid()))
    try:
        yield folder
    except KeyboardInterrupt:
        write_status(folder, state=State.STOPPED.value, finished=time.time())
        raise
    except BaseException as e:
        from studio.jobs.status import error_fields, explain
        write_status(folder, state=State.FAILED.value, finished=time.time(), **error_fields(explain(e)))
        raise
    write_status(folder, state=State.FINISHED.value, fraction=1.0, finished=time.time())


def _start_job(kind: str, params: JobParams, runs_dir: Path, label: str) -> Path:
    ensure_free(runs_dir)
    folder = new_job_folder(runs_dir, kind, label).path
    atomic_write_text(folder / PARAMS, json.dumps({**to_file(params), "runs_dir": str(runs_dir)},
                                                 ensure_ascii=False, indent=1), keep_backups=0)
    write_status(folder, state=State.QUEUED.value, created=time.time(), kind=kind)
    spawn(folder, ["_job", str(folder)])
    return folder


def spawn(folder: Path, args: list[str]) -> int:
    """The one launcher of every long job (training included): `python -m studio ARGS` in its own session, its
    output appended to the folder's log.txt, its pid (+ start time) recorded in status.json."""
    cmd = [sys.executable, "-m", "studio", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           OWN_JOB: str(Path(folder).resolve())}
    with open(folder / LOG, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(PACKAGE_ROOT), env=env, start_new_session=True)
    write_status(folder, **pid_fields(proc.pid))
    # reaped when it ends, however it ends: a worker killed from outside stayed a zombie under the app
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def request_stop(folder: Path) -> None:
    """Ask a run or job to stop: a training run saves and stops at the next step boundary, a job at its next
    progress report."""
    status = refresh(folder)
    if status.state not in ACTIVE:
        raise StudioError("job.not_running", name=folder.name, state=T(f"state.{status.state}"))
    (folder / STOP).write_text("stop requested\n")
    write_status(folder, state=State.STOPPING.value)


def report_progress(folder: Path, fraction: float, message: Text | str) -> None:
    """Called by the worker: one progress line (both languages) and the fraction in the status file."""
    line = {"t": time.time(), "fraction": round(float(fraction), 4),
            "message": {lang: render(message, lang) for lang in LANGS}}
    with open(folder / PROGRESS, "a", encoding="utf-8") as f:
        f.write(dumps_line(line) + "\n")
    write_status(folder, fraction=line["fraction"], message=line["message"])


def stop_requested(folder: Path) -> bool:
    return (folder / STOP).exists()


def result(folder: Path) -> dict:
    try:
        data = json.loads((folder / RESULT).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def describe(job: Path | None, lang: str) -> tuple[str, float]:
    """One line for the UI: 'merge 20261123-…: running · 40% · loading the base model', and the fraction."""
    if job is None:
        return "", 0.0
    status = refresh(job)
    state = status.state
    frac = status.fraction or 0.0
    message = status.message or {}
    if state == State.FINISHED:
        frac = 1.0
        texts = result(job).get("summary")
        detail = texts.get(lang) or texts.get("en", "") if isinstance(texts, dict) else ""
    elif state in (State.FAILED, State.UNKNOWN):
        detail = _error_or_damaged(status, job, lang)
    else:
        detail = str(message.get(lang) or message.get("en") or "")
    return render(T("job.line", name=job.name, state=T(f"state.{state}"), pct=f"{frac:.0%}", detail=detail),
                  lang), float(frac)


def _error_or_damaged(status: Status, job: Path, lang: str) -> str:
    from studio.jobs.status import localized_error
    if status.state == State.UNKNOWN:
        return render(T("job.damaged", file=str(job / STATUS)), lang)
    return localized_error(status, lang)


def wait(folder: Path, echo=print, poll: float = 1.0) -> Status:
    """Follow a run or job until it ends (the CLI's foreground mode), echoing each new progress line."""
    last = None
    while True:
        status = refresh(folder)
        line = f"{status.state} step {status.steps}"
        if line != last:
            echo(line)
            last = line
        if status.state not in ACTIVE:
            if status.error:
                echo(f"error: {status.error}")
            return status
        time.sleep(poll)


def tail_log(folder: Path, lines: int = 30) -> str:
    """The last lines of a folder's log.txt (read from its end, however long it is)."""
    try:
        with open(folder / LOG, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64_000))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""
