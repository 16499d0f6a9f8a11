"""Stop within a poll while a worker is inside one long library call that writes nothing (loading a model): no
progress report comes until it returns, so a thread watches for the stop request and ends the process.

Used by the training worker around loading the base model, and by the job worker while a task's last report is a
loading message (merge, combine, draft, evaluation, serve)."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from studio.jobs.status import STOP

POLL_S = 0.5


def end_process() -> None:
    os._exit(0)   # from the watching thread: the call in the main thread cannot be interrupted otherwise


class LoadWatch:
    """While armed, a stop request in `folder` calls `on_stop` (which records the stop) and ends the process."""

    def __init__(self, folder: Path, on_stop: Callable[[], None]) -> None:
        self.folder, self.on_stop = Path(folder), on_stop
        self.armed = threading.Event()
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None

    def arm(self) -> None:
        self.armed.set()
        if self.thread is None:
            self.thread = threading.Thread(target=self._watch, name="stop-watch", daemon=True)
            self.thread.start()

    def disarm(self) -> None:
        self.armed.clear()

    def close(self) -> None:
        self.armed.clear()
        self.closed.set()
        if self.thread is not None:
            self.thread.join()

    def _watch(self) -> None:
        while not self.closed.wait(POLL_S):
            if self.armed.is_set() and (self.folder / STOP).exists():
                self.on_stop()
                end_process()
                return
