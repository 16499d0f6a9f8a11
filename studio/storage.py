"""Crash-safe file writes: temp file + fsync + rename, a rolling backup, and an advisory folder lock."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:  # POSIX only; on Windows saves still are atomic, just not locked against other processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

BACKUP_DIR = ".backups"
KEEP_BACKUPS = 20
_UMASK = os.umask(0o022)  # read once at import (os.umask can only be read by setting it)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes, keep_backups: int = KEEP_BACKUPS, durable: bool = True,
                       backup_every_s: float = 0.0) -> None:
    """Replace `path` with `data` so that a crash at any moment leaves either the old or the new file, whole.
    durable=False skips the fsyncs (for progress files rewritten every step, where the rename is enough).
    backup_every_s > 0 keeps at most one backup per that many seconds (saves made while typing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if keep_backups and path.exists() and path.read_bytes() != data and not _backed_up_within(path, backup_every_s):
        _backup(path, keep_backups)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600; keep the file as readable as a normal write would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8", keep_backups: int = KEEP_BACKUPS,
                      durable: bool = True, backup_every_s: float = 0.0) -> None:
    atomic_write_bytes(path, text.encode(encoding), keep_backups, durable, backup_every_s)


def _backed_up_within(path: Path, seconds: float) -> bool:
    if seconds <= 0:
        return False
    newest = backups_of(path)[-1:]
    return bool(newest) and time.time() - newest[0].stat().st_ctime < seconds  # copy2 keeps the old mtime


def _backup(path: Path, keep: int) -> None:
    folder = path.parent / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    now = time.time_ns()  # one reading: a second read across a second boundary would sort a new copy as oldest
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 1_000_000_000)) + f"-{now % 1_000_000_000:09d}"
    shutil.copy2(path, folder / f"{path.name}.{stamp}")
    old = sorted(folder.glob(f"{path.name}.*"))
    for stale in old[:-keep]:
        with contextlib.suppress(OSError):
            stale.unlink()


def backups_of(path: Path) -> list[Path]:
    """Backups of `path`, newest last."""
    path = Path(path)
    return sorted((path.parent / BACKUP_DIR).glob(f"{path.name}.*"))


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Serialise read-check-write sequences on one folder across threads and processes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
