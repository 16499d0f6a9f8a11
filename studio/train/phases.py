"""The phases of a training run before and after its steps (data, replay, load, trainer, save), written into the
run's status so the Train tab and `studio status` say what the worker is doing, and how Stop reaches each.

Stop is honoured between phases, at each replay batch (studio.train.replay), at each step (the callback), and at
once while the base model loads: loading writes nothing, so the worker may simply end there."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from studio.core.errors import Stopped
from studio.jobs.folders import Run
from studio.jobs.status import State, write_status
from studio.jobs.stopwatch import LoadWatch


def enter(run: Path, name: str, writes: bool = True, **detail) -> None:
    """Start phase `name` (shown with its elapsed time); a stop asked for before it begins ends the run here."""
    if Run(run).stop.exists():
        raise Stopped
    if writes:
        write_status(run, phase={"name": name, "since": time.time(), **detail})


def counted(run: Path, name: str) -> Callable[[int, int], bool]:
    """A reporter for a phase with n/N (name, n/N, ETA into the status); returns whether a stop was asked for."""
    started = time.time()

    def report(done: int, total: int) -> bool:
        eta = (time.time() - started) / done * (total - done) if done else None
        write_status(run, phase={"name": name, "done": done, "total": total, "since": started,
                                 "eta_s": None if eta is None else round(eta, 1)})
        return Run(run).stop.exists()
    report.asked = lambda: Run(run).stop.exists()   # asked without reporting: generation checks it every token
    return report


def stop_watch(run: Path) -> LoadWatch:
    """An armed watch: until it is disarmed (the first step's end) or closed, a stop request marks the run stopped
    and ends this process within a poll. Only while nothing has been written that a stop must keep."""
    def record() -> None:
        write_status(run, state=State.STOPPED, finished=time.time())
        print("stopped before the first step ended: nothing was trained", flush=True)
    watch = LoadWatch(run, record)
    watch.arm()
    return watch
