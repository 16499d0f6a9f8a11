"""Start, resume and watch training runs from the UI or the CLI. Training itself runs in a child process whose
output goes to log.txt (a file, never a pipe that someone must drain)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from studio.errors import StudioError
from studio.locale import Rows, T, Text
from studio.data.persona import PAIRS_FILE, PERSONA_FILE, PROBE_FILE
from studio.data.persona_store import load_persona, save_persona
from studio.data.conversations import conversations_from_persona
from studio.train.config import TrainConfig
from studio.jobs.runner import busy_with, spawn
from studio.jobs.status import ACTIVE, State
from studio.train.runs import CONFIG, LOG, STOP, damaged_checkpoints, latest_checkpoint, new_run_dir, \
    read_status, refresh, write_status
from studio.train.folder import Run


def preflight(cfg: TrainConfig, check_doctor: bool = True) -> list[Text]:
    """Refuse bad settings, validation errors and Doctor errors before anything starts (unless overridden);
    returns the warnings worth showing."""
    from studio.format.findings import Finding
    from studio.data.validate import validate_persona
    persona = load_persona(cfg.data)
    n = len(conversations_from_persona(persona))
    cfg.validate(n)
    check_fused_kernels(cfg)
    check_processes(cfg)
    findings: list[Finding] = list(validate_persona(persona))
    if check_doctor:
        from studio.format.formatting import FormatSettings, render_persona
        from studio.models import load_tokenizer
        tok = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        res = render_persona(persona, tok, FormatSettings(cfg.template, cfg.max_length, cfg.train_on,
                                                          cfg.system_prompt))
        findings += [f for f in res.findings if not (f.code == "TEMPLATE_TOKEN_SPLIT" and cfg.add_control_tokens)]
    errors = [_short(f) for f in findings if f.severity == "error"]
    if errors and not cfg.allow_doctor_errors:
        raise StudioError("err.preflight_errors", count=len(errors), findings=tuple(errors[:3]))
    warnings = [_short(f) for f in findings if f.severity == "warning"]
    if errors:
        warnings.insert(0, T("train.overridden", count=len(errors), findings=tuple(errors[:3])))
    return warnings


def check_fused_kernels(cfg: TrainConfig) -> None:
    """Liger's kernels are Triton (CUDA only): refuse them up front where they cannot run, saying why."""
    if not cfg.use_liger:
        return
    import importlib.util
    if importlib.util.find_spec("liger_kernel") is None:
        raise StudioError("err.liger.missing")
    from studio.train.recipes import detect_device
    if detect_device() != "cuda":
        raise StudioError("err.liger.cpu")


def check_processes(cfg: TrainConfig) -> None:
    """Several processes or machines: refuse what cannot run here before anything starts (and the port early)."""
    from studio.train import distributed
    if not distributed.is_distributed(cfg):
        return
    distributed.check_here(cfg)
    distributed.rendezvous_port(cfg)


def _short(f) -> Text:
    """'CODE (rows): message', in the reader's language."""
    return T("finding.short", code=f.code, rows=Rows(f.rows), message=f.texts[0] if f.texts else T(f.message))


def start_run(cfg: TrainConfig, runs_dir: Path, check_doctor: bool = True,
              warnings: list[Text] | None = None) -> Path:
    """Create the run directory (config + a snapshot of the data) and start the worker process. The preflight's
    warnings are appended to `warnings` when given."""
    busy = busy_with(runs_dir)  # a training run, or a merge/combine/eval job: one GPU job at a time
    if busy:
        raise StudioError("err.run_busy", run=busy)
    found = preflight(cfg, check_doctor)
    if warnings is not None:
        warnings.extend(found)
    persona = load_persona(cfg.data)
    run = new_run_dir(runs_dir, Path(cfg.data).stem or persona.name)
    save_persona(persona, Run(run).data)  # the run keeps its own copy: enough to rerun, immune to later edits
    probe = Path(cfg.data) / PROBE_FILE
    if probe.is_file():  # the held-out questions go along, so the run is evaluated on what was set at its start
        shutil.copy(probe, Run(run).data / PROBE_FILE)
    for junk in (".backups", ".lock"):
        p = Run(run).data / junk
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    (run / CONFIG).write_text(cfg.to_yaml(), encoding="utf-8")
    write_status(run, state=State.QUEUED, step=0, total=cfg.max_steps, created=time.time())
    _spawn(run, resume=False)
    return run


def resume_run(run: Path, runs_dir: Path) -> Path:
    status = refresh(run)
    if status.get("state") in ACTIVE:
        raise StudioError("err.run_still", run=run.name, state=T(f"state.{status['state']}"))
    if status.get("state") == State.FINISHED:
        raise StudioError("err.run_finished", run=run.name)
    busy = busy_with(runs_dir)  # a training run, or a merge/combine/eval job: one GPU job at a time
    if busy:
        raise StudioError("err.run_busy", run=busy)
    if latest_checkpoint(run) is None:
        damaged = "; ".join(f"{n}: {why}" for n, why in damaged_checkpoints(run))
        raise StudioError("err.no_checkpoint", run=run.name,
                          damaged=T("err.no_checkpoint_damaged", damaged=damaged) if damaged else "")
    write_status(run, state=State.QUEUED, error=None)
    _spawn(run, resume=True)
    return run


def _spawn(run: Path, resume: bool) -> None:
    if not (Run(run).data / PAIRS_FILE).exists() and not (Run(run).data / PERSONA_FILE).exists():
        raise StudioError("err.no_snapshot", run=str(run))
    (run / STOP).unlink(missing_ok=True)  # an old request must not stop the new process
    from studio.train.distributed import RANKS_DIR, is_distributed
    shutil.rmtree(run / RANKS_DIR, ignore_errors=True)  # last attempt's rank errors are not this one's
    several = is_distributed(TrainConfig.load(run / CONFIG))
    spawn(run, ["_launch" if several else "_worker", str(run)] + (["--resume"] if resume else []))


def wait(run: Path, echo=print, poll: float = 1.0) -> dict:
    """Follow a run until it ends (CLI foreground mode), echoing progress lines."""
    last = None
    while True:
        status = refresh(run)
        line = f"{status.get('state')} step {status.get('step', 0)}/{status.get('total', '?')}"
        if line != last:
            echo(line)
            last = line
        if status.get("state") not in ACTIVE:
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
