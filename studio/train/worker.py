"""The training recipe, read top to bottom: setup -> data -> model -> trainer -> train -> save. Runs in its own process
(`python -m studio _worker RUN_DIR`), writing only files in the run directory; never imported by the UI."""
from __future__ import annotations

import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import Stopped
from studio.format.contract import Contract
from studio.jobs.checkpoints import damaged_checkpoints, latest_checkpoint
from studio.jobs.folders import CONFIG, Run
from studio.jobs.status import NO_ERROR, State, error_fields, explain, pid_fields, write_status  # noqa: F401 - explain is tested through here
from studio.jobs.stopwatch import LoadWatch
from studio.train import distributed, phases
from studio.train.config import TrainConfig
from studio.train.distributed import Rank
from studio.train.methods import get_method
from studio.train.steps import attention, contract_for, device_settings, load_base, lora_config, make_setup  # noqa: F401


@dataclass
class Prepared:
    trainer: object
    tokenizer: object
    contract: Contract
    config: TrainConfig
    watch: LoadWatch | None = None   # armed until the first step ends: a stop before then ends the process at once


def method_module(name: str):
    """The heavy part of a training method (its data and trainer): imported here, by name, and nowhere else."""
    get_method(name)   # an unknown name is refused with the method list
    if name == "sft":
        from studio.train.methods import sft as module
    elif name == "dpo":
        from studio.train.methods import dpo as module
    elif name == "kto":
        from studio.train.methods import kto as module
    else:
        raise NotImplementedError(f"method {name!r} has a record but no module in method_module")
    return module


def prepare(run: Path, cfg: TrainConfig) -> Prepared:
    """The recipe: setup -> data -> model -> trainer, with the run's method (studio/train/methods) choosing how the
    data is made and which trainer learns from it."""
    method = method_module(cfg.method)
    rank = Rank.current()
    phases.enter(run, "data", rank.writes_files)
    setup = make_setup(run, cfg)
    data = method.data(setup)   # a replay run's base answers first, as their own counted phase
    phases.enter(run, "load", rank.writes_files, model=cfg.model)
    # From here to the end of the first step the worker writes nothing a stop must keep (loading the base, setting
    # up the trainer, a checkpoint's state read back, the first step): a stop ends the process within a poll.
    # With several ranks this is off: they agree on a stop at a step boundary.
    watch = phases.stop_watch(run) if rank.world == 1 else None
    try:
        model = load_base(setup, data.added)
        phases.enter(run, "trainer", rank.writes_files)
        trainer = method.trainer(setup, data, model, lora_config(cfg, model, data.added))
    except BaseException:
        if watch is not None:   # this process goes on to report why: the watch must not end it meanwhile
            watch.close()
        raise
    from studio.train.callbacks import RunFilesCallback
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, RunFilesCallback):
            callback.watch = watch   # disarmed when the first step ends
    return Prepared(trainer, setup.tokenizer, contract_for(setup, data), cfg, watch)


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def run_worker(run: Path, resume: bool = False) -> int:
    """Train the run in this process. Exit code 0 finished/stopped, 1 failed. Everything goes to files."""
    import os
    rank = Rank.current()
    watch = None
    if rank.world > 1:
        distributed.die_with_parent()  # status.json's pid is the launch process: its ranks must not outlive it
    if rank.writes_files:
        own = pid_fields(os.getpid()) if rank.world == 1 else {}
        write_status(run, state=State.RUNNING, **own, **NO_ERROR, versions=versions(), started=time.time(),
                     phase={"name": "start", "since": time.time()})
    try:
        cfg = TrainConfig.load(run / CONFIG)
        prepared = prepare(run, cfg)
        watch = prepared.watch
        ckpt = latest_checkpoint(run) if resume else None
        if resume:
            for name, why in damaged_checkpoints(run):
                print(f"skipping damaged {name}: {why}", flush=True)
            print(f"resuming from {ckpt.name}" if ckpt else "no usable checkpoint: starting from step 0", flush=True)
        if rank.writes_files:
            prepared.contract.save(run)
        prepared.trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        adapter = Run(run).adapter
        if rank.writes_files:
            write_status(run, phase={"name": "save", "since": time.time()})
        before_save = getattr(method_module(cfg.method), "before_save", None)
        if before_save:
            before_save(prepared.trainer)
        prepared.trainer.save_model(str(adapter))  # the Trainer writes from the saving rank only
        if not rank.writes_files:
            return 0
        prepared.tokenizer.save_pretrained(adapter)
        prepared.contract.save(adapter)
        from studio.export.model_card import write_model_card
        write_model_card(Run(run), adapter, "adapter", prepared.contract)
        state = prepared.trainer.state
        stopped = state.global_step < state.max_steps  # only a stop request ends training early (on any machine)
        outcome = State.STOPPED if stopped else State.FINISHED
        # with several ranks the launch process sets the state, once every rank has ended
        write_status(run, **({"outcome": outcome} if rank.world > 1 else {"state": outcome}), step=state.global_step,
                     total=state.max_steps, finished=time.time(), eta_s=0, phase=None)
        return 0
    except Stopped:   # stopped before the first step (replay answers, between phases): nothing trained or lost
        if rank.writes_files:
            write_status(run, state=State.STOPPED, finished=time.time())   # the phase says how far it got
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must reach status.json
        traceback.print_exc()
        if rank.world > 1:  # the launch process reports it, once every rank has ended
            distributed.write_rank_error(run, rank, explain(e))
        else:
            write_status(run, state=State.FAILED, **error_fields(explain(e)), finished=time.time())
        return 1
    finally:
        if watch is not None:
            watch.close()
        sys.stdout.flush()
