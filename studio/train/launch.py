"""Start, resume and watch training runs from the UI or the CLI. Training itself runs in a child process whose
output goes to log.txt (a file, never a pipe that someone must drain)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from studio.core.errors import StudioError
from studio.data.persona import PAIRS_FILE, PERSONA_FILE, PROBE_FILE
from studio.data.persona_store import load_persona, save_persona
from studio.jobs.checkpoints import damaged_checkpoints, latest_checkpoint
from studio.jobs.folders import Run, new_run_folder
from studio.jobs.launcher import busy_with, one_at_a_time, refresh, spawn
from studio.jobs.status import ACTIVE, NO_ERROR, State, write_status
from studio.locale import T, Text
from studio.train.config import TrainConfig
from studio.train.preflight import preflight


def start_run(cfg: TrainConfig, runs_dir: Path, check_doctor: bool = True,
              warnings: list[Text] | None = None) -> Path:
    """Create the run directory (config + a snapshot of the data) and start the worker process. The preflight's
    warnings are appended to `warnings` when given. One start at a time: two at once cannot both train."""
    if cfg.needs_parent:
        return _start_preference_run(cfg, runs_dir, warnings)
    with one_at_a_time(runs_dir):
        return _start_run(cfg, runs_dir, check_doctor, warnings)


def _start_run(cfg: TrainConfig, runs_dir: Path, check_doctor: bool, warnings: list[Text] | None) -> Path:
    busy = busy_with(runs_dir)  # a training run, or a merge/combine/eval job: one GPU job at a time
    if busy:
        raise StudioError("err.run_busy", run=busy)
    found = preflight(cfg, check_doctor)
    if warnings is not None:
        warnings.extend(found)
    persona = load_persona(cfg.data)
    folder = new_run_folder(runs_dir, Path(cfg.data).stem or persona.name)
    run = folder.path
    save_persona(persona, folder.data)  # the run keeps its own copy: enough to rerun, immune to later edits
    probe = Path(cfg.data) / PROBE_FILE
    if probe.is_file():  # the held-out questions go along, so the run is evaluated on what was set at its start
        shutil.copy(probe, folder.data / PROBE_FILE)
    for junk in (".backups", ".lock"):
        p = folder.data / junk
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    folder.config.write_text(cfg.to_yaml(), encoding="utf-8")
    write_status(run, state=State.QUEUED, step=0, total=cfg.max_steps, created=time.time())
    _spawn(run, resume=False)
    return run


def _start_preference_run(cfg: TrainConfig, runs_dir: Path, warnings: list[Text] | None) -> Path:
    """The preferences are read and rendered before the start lock is taken (a big file must not hold up every
    other start); the device is checked again under the lock, where the folder is made and the worker started."""
    from studio.train import preference_launch
    if busy_with(runs_dir):
        raise StudioError("err.run_busy", run=busy_with(runs_dir))
    cfg, rendered, found = preference_launch.check(cfg, runs_dir)
    with one_at_a_time(runs_dir):
        busy = busy_with(runs_dir)
        if busy:
            raise StudioError("err.run_busy", run=busy)
        run = preference_launch.make_run_folder(cfg, rendered, runs_dir)
        write_status(run.path, state=State.QUEUED, step=0, total=cfg.max_steps, created=time.time(),
                     method=cfg.method, parent_run=cfg.parent_run)
        _spawn(run.path, resume=False)
    if warnings is not None:
        warnings.extend(found)
    return run.path


def resume_run(run: Path, runs_dir: Path) -> Path:
    status = refresh(run)
    if status.state in ACTIVE:
        raise StudioError("err.run_still", run=run.name, state=T(f"state.{status.state}"))
    if status.state == State.FINISHED:
        raise StudioError("err.run_finished", run=run.name)
    with one_at_a_time(runs_dir):
        busy = busy_with(runs_dir)  # a training run, or a merge/combine/eval job: one GPU job at a time
        if busy:
            raise StudioError("err.run_busy", run=busy)
        return _resume(run)


def _resume(run: Path) -> Path:
    if latest_checkpoint(run) is None:
        damaged = "; ".join(f"{n}: {why}" for n, why in damaged_checkpoints(run))
        raise StudioError("err.no_checkpoint", run=run.name,
                          damaged=T("err.no_checkpoint_damaged", damaged=damaged) if damaged else "")
    write_status(run, state=State.QUEUED, **NO_ERROR)
    _spawn(run, resume=True)
    return run


def _spawn(run: Path, resume: bool) -> None:
    folder = Run(run)
    if not (folder.data / PAIRS_FILE).exists() and not (folder.data / PERSONA_FILE).exists():
        raise StudioError("err.no_snapshot", run=str(run))
    folder.stop.unlink(missing_ok=True)  # an old request must not stop the new process
    from studio.train.distributed import is_distributed
    shutil.rmtree(folder.ranks, ignore_errors=True)  # last attempt's rank errors are not this one's
    several = is_distributed(TrainConfig.load(folder.config))
    spawn(run, ["_launch" if several else "_worker", str(run)] + (["--resume"] if resume else []))
