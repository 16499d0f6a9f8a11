"""Crash-safe file writes: temp file + fsync + rename, a rolling backup, and an advisory folder lock."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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
    target = folder / f"{path.name}.{stamp}"
    try:
        shutil.copy2(path, target)
    except OSError:  # a full disk: no truncated copy left behind, and the save itself still gets its chance
        with contextlib.suppress(OSError):
            target.unlink()
        return
    old = sorted(folder.glob(f"{path.name}.*"))
    for stale in old[:-keep]:
        with contextlib.suppress(OSError):
            stale.unlink()


COMMIT = ".commit"          # present only while a multi-file save is being renamed into place
STALE_TMP_S = 3600.0         # temp files older than this are leftovers of a killed writer


def atomic_write_files(folder: Path, files: dict[str, bytes], backup_every_s: float = 0.0) -> None:
    """Replace several files of one folder as one change: all new files are written and synced first, a commit
    marker lists them, then they are renamed. A kill before the marker leaves the old set, after it the new set
    (finished by recover_folder on the next open); never one file old and the other new."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recover_folder(folder)
    for name, data in files.items():
        path = folder / name
        if path.exists() and path.read_bytes() != data and not _backed_up_within(path, backup_every_s):
            _backup(path, KEEP_BACKUPS)
        new = folder / f".{name}.new"
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK
        with open(new, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(new, mode)
    atomic_write_bytes(folder / COMMIT, "\n".join(files).encode("utf-8"), keep_backups=0)
    _finish(folder)


def _finish(folder: Path) -> None:
    names = (folder / COMMIT).read_text(encoding="utf-8").split("\n")
    for name in names:
        new = folder / f".{name}.new"
        if name and new.exists():
            os.replace(new, folder / name)
    _fsync_dir(folder)
    (folder / COMMIT).unlink(missing_ok=True)
    _fsync_dir(folder)


def recover_folder(folder: Path) -> None:
    """Finish a multi-file save that was committed but not fully renamed; drop one that never committed, and
    temp files that a killed writer left behind."""
    folder = Path(folder)
    if (folder / COMMIT).exists():
        _finish(folder)
    for new in folder.glob(".*.new"):
        with contextlib.suppress(OSError):
            new.unlink()
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink()


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


PARTIAL_MARK = ".studio-partial"   # inside every partial folder the studio makes: only those are ever removed


def fresh_partial(target: Path, folder: bool = True) -> Path:
    """A new place to write `target` before it is complete: a hidden sibling named for the studio
    (.<name>.studio-partial-<n>), a folder holding PARTIAL_MARK or a file; stale ones the studio left behind (a
    killed job) are cleared first. Nothing the studio did not make is ever touched."""
    import os
    import shutil
    target = Path(target)
    for stale in target.parent.glob(f".{target.name}.studio-partial-*"):
        if stale.is_dir() and (stale / PARTIAL_MARK).exists() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)
    path = target.parent / f".{target.name}.studio-partial-{os.getpid()}"
    if folder:
        path.mkdir(parents=True)
        (path / PARTIAL_MARK).write_text("written by Persona Studio; removed once complete\n", encoding="utf-8")
    return path


def publish_partial(partial: Path, target: Path) -> Path:
    """Move a complete partial folder or file into place (the mark goes first)."""
    (partial / PARTIAL_MARK).unlink(missing_ok=True) if partial.is_dir() else None
    partial.replace(target)
    return target


YAML_BREAKS = ("\x85", "\u2028", "\u2029")   # line breaks to YAML that are ordinary characters to Python


def dump_yaml(data) -> str:
    """YAML that reads back exactly: strings holding NEL or a Unicode line/paragraph separator are written
    double-quoted (escaped as \\N, \\L, \\P); PyYAML would otherwise write them raw and read them back as breaks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = '"' if any(b in value for b in YAML_BREAKS) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=120)


MAX_YAML_BYTES = 2 * 2**20   # settings, setups, personas' headers, dialogues: far larger than any of them needs


class YamlRefused(ValueError):
    """A YAML text the studio will not read: too big, an alias, or nested past reason (the reason is the text)."""


def load_yaml(text: str):
    """YAML as plain data, never costlier than its text: aliases (`*name`, `<<: *name`) are refused, since a few
    hundred bytes of nested aliases expand to gigabytes once anything walks them ("billion laughs"), and so are
    texts over MAX_YAML_BYTES and nesting deeper than Python reads. Raises YamlRefused or yaml.YAMLError."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise YamlRefused(f"line {mark.line + 1}: aliases (*name) are not read here; write the value out")
            return super().compose_node(parent, index)

    if len(text) > MAX_YAML_BYTES:
        raise YamlRefused(f"{len(text):,} characters, over the {MAX_YAML_BYTES:,} read here")
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise YamlRefused("nested deeper than can be read") from None


def copy_plain_tree(src: Path, dst: Path, max_bytes: int) -> list[str]:
    """Copy the regular files under `src` to `dst`, never following a link (a link, to a file or a folder, is left
    out and its name returned) and refusing, before anything is copied, more than `max_bytes` in all (ValueError).
    For folders whose content came from elsewhere: a run's persona snapshot must not become a way to copy files
    from outside the studio, or a whole disk."""
    src, dst = Path(src), Path(dst)
    if src.is_symlink() or not src.is_dir():
        raise ValueError(f"{src} is not a folder")
    files, links, total = [], [], 0
    for folder, dirs, names in os.walk(src, followlinks=False):
        here = Path(folder)
        for name in [*dirs, *names]:
            path = here / name
            if path.is_symlink():
                links.append(str(path.relative_to(src)))
            elif name in names and path.is_file():
                total += path.stat().st_size
                files.append(path)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
        if total > max_bytes:
            raise ValueError(f"{src} holds more than {max_bytes // 2**20} MB")
    for path in files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
    dst.mkdir(parents=True, exist_ok=True)
    return links
