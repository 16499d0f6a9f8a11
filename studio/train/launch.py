"""Start, resume and watch training runs from the UI or the CLI. Training itself runs in a child process whose
output goes to log.txt (a file, never a pipe that someone must drain)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from studio.errors import StudioError
from studio.persona import PAIRS_FILE, PERSONA_FILE
from studio.persona_store import load_persona, save_persona
from studio.templates import conversations_from_persona
from studio.train.config import TrainConfig
from studio.train.runs import CONFIG, LOG, STOP, active_run, damaged_checkpoints, latest_checkpoint, new_run_dir, \
    read_status, refresh, write_status
from studio.workspace import PACKAGE_ROOT


def preflight(cfg: TrainConfig, check_doctor: bool = True) -> list[str]:
    """Refuse bad settings and Doctor errors before anything starts; returns warnings worth showing."""
    persona = load_persona(cfg.data)
    n = len(conversations_from_persona(persona))
    cfg.validate(n)
    warnings = []
    if check_doctor:
        from studio.findings import has_errors
        from studio.formatting import FormatSettings, render_persona
        from studio.models import load_tokenizer
        tok = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        res = render_persona(persona, tok, FormatSettings(cfg.template, cfg.max_length, cfg.train_on,
                                                          cfg.system_prompt))
        errors = [f for f in res.findings if f.severity == "error"
                  and not (f.code == "TEMPLATE_TOKEN_SPLIT" and cfg.add_control_tokens)]
        if errors and not cfg.allow_doctor_errors:
            raise StudioError("The Template Doctor reports errors: " + "; ".join(f"{f.code} ({f.message[:120]})"
                              for f in errors[:3]) + ". Fix them in the Format tab, or override them (the Train "
                              "tab's checkbox, or --allow-doctor-errors).")
        warnings = [f"{f.code}: {f.message}" for f in res.findings if f.severity == "warning"]
        if has_errors(res.findings) and cfg.allow_doctor_errors:
            warnings.insert(0, "Launched despite Template Doctor errors (override).")
    return warnings


def start_run(cfg: TrainConfig, runs_dir: Path, check_doctor: bool = True) -> Path:
    """Create the run directory (config + a snapshot of the data) and start the worker process."""
    busy = active_run(runs_dir)
    if busy:
        raise StudioError(f"Run {busy.id} is still training; only one training runs at a time. Stop it first "
                          f"(python -m studio stop --run {busy.id}).")
    preflight(cfg, check_doctor)
    persona = load_persona(cfg.data)
    run = new_run_dir(runs_dir, Path(cfg.data).stem or persona.name)
    save_persona(persona, run / "data")  # the run keeps its own copy: enough to rerun, immune to later edits
    for junk in (".backups", ".lock"):
        p = run / "data" / junk
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    (run / CONFIG).write_text(cfg.to_yaml(), encoding="utf-8")
    write_status(run, state="queued", step=0, total=cfg.max_steps, created=time.time())
    _spawn(run, resume=False)
    return run


def resume_run(run: Path, runs_dir: Path) -> Path:
    status = refresh(run)
    if status.get("state") in ("queued", "running", "stopping"):
        raise StudioError(f"Run {run.name} is still {status['state']}.")
    if status.get("state") == "finished":
        raise StudioError(f"Run {run.name} already finished all its steps.")
    busy = active_run(runs_dir)
    if busy:
        raise StudioError(f"Run {busy.id} is training; only one training runs at a time.")
    if latest_checkpoint(run) is None:
        damaged = "; ".join(f"{n}: {why}" for n, why in damaged_checkpoints(run))
        raise StudioError(f"Run {run.name} has no usable checkpoint to resume from"
                          + (f" (damaged: {damaged})" if damaged else "") + "; start a new run instead.")
    write_status(run, state="queued", error=None)
    _spawn(run, resume=True)
    return run


def _spawn(run: Path, resume: bool) -> None:
    if not (run / "data" / PAIRS_FILE).exists() and not (run / "data" / PERSONA_FILE).exists():
        raise StudioError(f"{run} has no data snapshot (data/); start a new run instead.")
    (run / STOP).unlink(missing_ok=True)  # an old request must not stop the new process
    cmd = [sys.executable, "-m", "studio", "_worker", str(run)] + (["--resume"] if resume else [])
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(run / LOG, "a", encoding="utf-8") as log:
        log.write(f"\n=== {'resume' if resume else 'start'} {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(PACKAGE_ROOT), env=env, start_new_session=True)
    write_status(run, pid=proc.pid)


def wait(run: Path, echo=print, poll: float = 1.0) -> dict:
    """Follow a run until it ends (CLI foreground mode), echoing progress lines."""
    last = None
    while True:
        status = refresh(run)
        line = f"{status.get('state')} step {status.get('step', 0)}/{status.get('total', '?')}"
        if line != last:
            echo(line)
            last = line
        if status.get("state") not in ("queued", "running", "stopping"):
            if status.get("error"):
                echo(f"error: {status['error']}")
            return status
        time.sleep(poll)


def tail_log(run: Path, lines: int = 30) -> str:
    try:
        with open(run / LOG, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64_000))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


def status_line(run: Path) -> str:
    s = read_status(run)
    return f"{run.name}: {s.get('state')} {s.get('step', 0)}/{s.get('total', '?')}"
