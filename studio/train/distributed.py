"""One run over several processes (GPUs) or machines, through torch.distributed's own launcher (the elastic agent
under `torchrun` and `accelerate launch`). No torch at import.

`python -m studio _launch RUN` is the run's process (its pid is in status.json). It runs the elastic agent
in-process, which starts one `python -m studio _worker RUN` per local process; the Trainer (accelerate) joins them
into one process group (NCCL on GPUs, gloo on the CPU) and applies the strategy (DDP, FSDP or DeepSpeed ZeRO). If
any rank ends badly the agent ends the others, and this process marks the run failed with that rank's reason.

Who writes what: each machine's local rank 0 writes its run folder (status, metrics, checkpoints, adapter); the
other ranks write only their own error file (`ranks/rank-N.json`) when they fail. With several machines every
machine keeps its own run folder (local disks: checkpoints are saved on each machine, so each can resume)."""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.jobs.folders import Run
from studio.jobs.status import NO_ERROR, State, error_fields, explain, read_status, write_status
from studio.locale import Rendered, T, Text
from studio.train.config import TrainConfig

DEFAULT_PORT = 29500         # torchrun's default rendezvous port (several machines)
SHARDED = ("fsdp", "deepspeed-zero3")
GPU_ONLY = ("fsdp", "deepspeed-zero2", "deepspeed-zero3")


@dataclass(frozen=True)
class Rank:
    """This process's place in the run (from torchrun's environment; one process: rank 0 of 1)."""
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Rank:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))

    @property
    def writes_files(self) -> bool:
        """Local rank 0 writes this machine's run folder; the other ranks write none of it."""
        return self.local_rank == 0


def is_distributed(cfg: TrainConfig) -> bool:
    return cfg.num_processes > 1 or cfg.num_machines > 1


def local_processes(cfg: TrainConfig) -> int:
    return max(1, cfg.num_processes // max(1, cfg.num_machines))


def check(cfg: TrainConfig, device: str, local_devices: int) -> None:
    """Refuse, before anything starts, what cannot run here: each check names the setting and what to do.
    `local_devices` is the number of GPUs visible (CUDA) or CPU cores (CPU)."""
    if not is_distributed(cfg):
        return
    if cfg.num_processes % cfg.num_machines:
        raise StudioError("err.dist.uneven", n=cfg.num_processes, m=cfg.num_machines)
    if not 0 <= cfg.machine_rank < cfg.num_machines:
        raise StudioError("err.dist.machine_rank", rank=cfg.machine_rank, m=cfg.num_machines)
    if cfg.num_machines > 1 and not cfg.main_address.strip():
        raise StudioError("err.dist.address")
    if cfg.main_port and not 1024 <= cfg.main_port <= 65535:
        raise StudioError("err.dist.port_range", port=cfg.main_port)
    per = local_processes(cfg)
    if per > local_devices:
        if device == "cuda":
            raise StudioError("err.dist.too_many_gpus", n=per, have=local_devices)
        raise StudioError("err.dist.too_many_cpus", n=per, have=local_devices)
    if cfg.strategy in GPU_ONLY and device != "cuda":
        raise StudioError("err.dist.gpu_only", strategy=cfg.strategy)
    if cfg.strategy.startswith("deepspeed"):
        import importlib.util
        if importlib.util.find_spec("deepspeed") is None:
            raise StudioError("err.dist.no_deepspeed", strategy=cfg.strategy)
    if cfg.load_in_4bit and cfg.strategy in SHARDED:
        raise StudioError("err.dist.qlora_sharded", strategy=cfg.strategy)


def check_here(cfg: TrainConfig) -> None:
    """`check` against this machine's devices (at launch, and again when a run resumes, maybe elsewhere)."""
    from studio.train.recipes import detect_device
    device = detect_device()
    check(cfg, device, local_device_count(device))


def visible_gpus() -> int:
    """NVIDIA GPUs this process may use, without importing torch (for the UI): the driver's list, narrowed by
    CUDA_VISIBLE_DEVICES."""
    try:
        found = len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    return min(found, len([d for d in visible.split(",") if d.strip() and not d.strip().startswith("-")]))


def local_device_count(device: str) -> int:
    if device == "cuda":
        import torch
        return torch.cuda.device_count()
    return os.cpu_count() or 1


def rendezvous_port(cfg: TrainConfig) -> int:
    """The port the main machine listens on: the configured one if free, else a plain message; 0 on one machine
    means any free port. Other machines only connect to it, so they check nothing."""
    if cfg.machine_rank != 0:
        return cfg.main_port or DEFAULT_PORT
    one_machine = cfg.num_machines == 1
    host = "127.0.0.1" if one_machine else ""
    port = cfg.main_port or (0 if one_machine else DEFAULT_PORT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise StudioError("err.dist.port_busy", port=port) from None
        return s.getsockname()[1]


def uses_fsdp(cfg: TrainConfig) -> bool:
    return is_distributed(cfg) and cfg.strategy == "fsdp"


def trainer_kwargs(cfg: TrainConfig, device: str) -> dict:
    """SFTConfig settings for the strategy (none for one process)."""
    if not is_distributed(cfg):
        return {}
    kw: dict = {"ddp_find_unused_parameters": False, "save_on_each_node": cfg.num_machines > 1,
                "ddp_timeout": 1800}
    if device == "cpu":
        kw["ddp_backend"] = "gloo"
    if uses_fsdp(cfg):
        kw["fsdp"] = True  # FSDP2, full shard, one unit per decoder layer; its own activation checkpointing
        kw["fsdp_config"] = {"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                             "cpu_ram_efficient_loading": False, "reshard_after_forward": True,
                             "activation_checkpointing": cfg.gradient_checkpointing}
    elif cfg.strategy.startswith("deepspeed"):
        stage = 3 if cfg.strategy.endswith("3") else 2
        zero: dict = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
        if stage == 3:
            zero["stage3_gather_16bit_weights_on_model_save"] = True
        kw["deepspeed"] = {"zero_optimization": zero, "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"},
                           "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                           "train_batch_size": "auto", "gradient_clipping": "auto",
                           "zero_allow_untested_optimizer": True}  # the 8-bit optimizers are bitsandbytes'

    return kw


def any_rank(flag: bool, device) -> bool:
    """True on every rank when it is True on any (a stop request is seen by all ranks at the same step, or the
    ranks would wait for each other forever)."""
    import torch
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def die_with_parent() -> None:
    """A rank whose launch process was killed ends too (Linux), instead of training on with nobody watching."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def write_rank_error(run: Path, rank: Rank, message: Text) -> None:
    folder = Run(run).ranks
    folder.mkdir(exist_ok=True)
    record = {"t": time.time(), **error_fields(message)}
    (folder / f"rank-{rank.rank}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def _rank_error(run: Path, rank: int) -> tuple[float, Rendered] | None:
    """(when, why) from the rank's own error file, if it wrote one."""
    try:
        data = json.loads((Run(run).ranks / f"rank-{rank}.json").read_text(encoding="utf-8"))
        return float(data["t"]), Rendered(dict(data["error_i18n"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def failure_reason(run: Path, failures: dict, world: int) -> Text:
    """The rank that failed first and why. A rank killed from outside comes first (the others then fail talking to
    it, and the launcher ends them with SIGTERM); then a rank that raised an error, the earliest by its own error
    file; ranks the launcher ended come last."""
    import signal

    def order(item):
        rank, f = item
        own = _rank_error(run, rank)
        tier = 2 if f.exitcode == -signal.SIGTERM else 0 if f.exitcode < 0 else 1
        return (tier, own[0] if own else float(f.timestamp), rank)
    rank, failure = sorted(failures.items(), key=order)[0]
    own = _rank_error(run, rank)
    if failure.exitcode < 0:
        why = T("dist.killed", signal=failure.signal_name())
    elif own is not None:
        why = own[1]
    else:
        why = T("dist.exit_code", code=failure.exitcode)
    return T("dist.rank_failed", rank=rank, world=world, why=why)


def supervise(run: Path, resume: bool) -> int:
    """The run's process for several ranks: replay answers first (once, here), then the ranks, then the verdict."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from studio.jobs.checkpoints import latest_checkpoint
    from studio.jobs.folders import CONFIG
    write_status(run, state=State.RUNNING, **NO_ERROR, started=time.time(), ranks=None, outcome=None)
    try:
        cfg = TrainConfig.load(run / CONFIG)
        check_here(cfg)  # again here: a resumed run may be on another machine
        _prepare_replay(run, cfg)
        port = rendezvous_port(cfg)
        address = cfg.main_address.strip() or "127.0.0.1"
        per = local_processes(cfg)
        print(f"launching {per} process(es) on machine {cfg.machine_rank} of {cfg.num_machines} "
              f"({cfg.num_processes} in all, {cfg.strategy}), rendezvous {address}:{port}", flush=True)
        write_status(run, ranks={"world": cfg.num_processes, "local": per, "machine": cfg.machine_rank,
                                 "machines": cfg.num_machines, "strategy": cfg.strategy})
        launch = LaunchConfig(min_nodes=cfg.num_machines, max_nodes=cfg.num_machines, nproc_per_node=per,
                              # the same on every machine (each names its run folder by its own clock)
                              run_id=f"studio-{address}-{port}", rdzv_backend="static",
                              rdzv_endpoint=f"{address}:{port}",
                              rdzv_configs={"rank": cfg.machine_rank, "timeout": 900}, max_restarts=0,
                              monitor_interval=0.5, log_line_prefix_template="[rank${rank}] ")
        args = ["-m", "studio", "_worker", str(run)] + (["--resume"] if resume else [])
        elastic_launch(launch, sys.executable)(*args)
        outcome = read_status(run).outcome
        write_status(run, state=outcome if outcome in (State.FINISHED, State.STOPPED) else State.FINISHED,
                     outcome=None)
        return 0
    except ChildFailedError as e:
        for rank, f in sorted(e.failures.items()):
            print(f"rank {rank}: exit code {f.exitcode}, pid {f.pid}, at {f.timestamp}", flush=True)
        ckpt = latest_checkpoint(run)
        where = T("train.died_resume", ckpt=ckpt.name) if ckpt else T("train.died_no_ckpt")
        message = T("dist.failed", why=failure_reason(run, e.failures, cfg.num_processes), where=where)
    except BaseException as e:  # noqa: BLE001 - a refused setting, a rendezvous or launch failure: status.json too
        import traceback
        traceback.print_exc()
        message = explain(e)
    write_status(run, state=State.FAILED, **error_fields(message), finished=time.time())
    return 1


def _prepare_replay(run: Path, cfg: TrainConfig) -> None:
    """Make the replay answers once, before the ranks start (each rank then reads the run's replay.jsonl)."""
    if cfg.replay_share <= 0:
        return
    from studio.core.models import resolve
    from studio.data.persona_store import load_persona
    from studio.train.replay import rows_for_run
    data = Run(run).data if Run(run).data.exists() else Path(cfg.data)
    rows_for_run(run, cfg, load_persona(data), resolve(cfg.model))
