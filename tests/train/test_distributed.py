"""Two processes (DDP over gloo on the CPU) through the real launcher: loss falls, one adapter, one metrics line per
step, stop ends both ranks, a killed rank fails the run with its reason, resume continues; and every combination
that cannot run is refused before anything starts."""
import os
import signal
import socket
from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.data.persona import Persona, QAPair
from studio.data.persona_store import save_persona
from studio.jobs.checkpoints import latest_checkpoint
from studio.jobs.launcher import refresh, request_stop, wait
from studio.jobs.runs import read_metrics
from studio.tiny import save_tiny_model
from studio.train import distributed
from studio.train.config import TrainConfig
from studio.train.launch import resume_run, start_run
from tests.conftest import wait_for

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)


def ranks_alive(run: Path) -> list[int]:
    """Worker processes of this run still alive (not zombies)."""
    alive = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"_worker" in cmd and str(run).encode() in cmd and state != "Z":
            alive.append(int(d.name))
    return sorted(alive)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    model = save_tiny_model(root / "tiny", "chatml")
    answers = ["ごきげんようですわ。", "紅茶が好きですの。", "わたくしは元気ですわ。", "ええ、そうですわね。"]
    save_persona(Persona(name="t", system_prompt="お嬢様として答えて",
                         pairs=[QAPair(f"質問{i}ですか？", a) for i, a in enumerate(answers * 4)]), root / "p")
    return root, model


def config(setup, **kw) -> TrainConfig:
    root, model = setup
    return TrainConfig(**{**dict(model=str(model), data=str(root / "p"), max_steps=300, batch_size=2, grad_accum=1,
                                 learning_rate=5e-3, warmup_steps=0, save_steps=5, lora_r=8, lora_alpha=16,
                                 max_length=128, load_in_4bit=False, optimizer="adamw_torch", num_processes=2), **kw})


@pytest.mark.slow
def test_two_process_ddp_stop_kill_resume(setup, tmp_path):
    runs = tmp_path / "runs"
    run = start_run(config(setup), runs)
    wait_for(lambda: (refresh(run).step or 0) >= 10)
    assert len(ranks_alive(run)) == 2
    status = refresh(run)
    assert status.ranks == {"world": 2, "local": 2, "machine": 0, "machines": 1, "strategy": "ddp"}
    from studio.train.views import progress_text
    assert "2 processes on 1 machine(s), ddp" in progress_text(run, "en")[0]
    assert "2 プロセス" in progress_text(run, "ja")[0]
    request_stop(run)
    status = wait(run, echo=lambda *_: None)
    assert status.state == "stopped", status
    stopped_at = status.step
    wait_for(lambda: not ranks_alive(run), timeout=30)  # both ranks ended
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    assert steps == list(range(1, stopped_at + 1))  # one line per step: only one rank writes
    assert latest_checkpoint(run).name == f"checkpoint-{stopped_at}"
    ckpt = latest_checkpoint(run)
    assert {p.name for p in ckpt.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}

    resume_run(run, runs)
    wait_for(lambda: (refresh(run).step or 0) >= stopped_at + 10)
    victim = ranks_alive(run)[-1]  # rank 1 (started second)
    os.kill(victim, signal.SIGKILL)
    status = wait(run, echo=lambda *_: None)
    assert status.state == "failed"
    assert "of 2 failed" in status.error and "SIGKILL" in status.error, status.error
    assert "resume continues from checkpoint-" in status.error
    assert "SIGKILL" in status.error_i18n["ja"] and "ランク" in status.error_i18n["ja"]
    wait_for(lambda: not ranks_alive(run), timeout=30)  # nothing left running

    resume_run(run, runs)
    status = wait(run, echo=lambda *_: None)
    assert status.state == "finished" and status.step == 300, status
    assert not ranks_alive(run)
    metrics = read_metrics(run)
    last = [m["step"] for m in metrics if "loss" in m][-20:]
    assert last == list(range(281, 301))
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert sum(losses[-10:]) / 10 < losses[0] * 0.9, (losses[0], losses[-10:])
    adapters = [p for p in run.rglob("adapter_model.safetensors") if "checkpoints" not in p.parts]
    assert adapters == [run / "adapter" / "adapter_model.safetensors"]  # exactly one adapter
    assert (run / "adapter" / "contract.json").exists()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(setup[1]), run / "adapter")


@pytest.mark.slow
def test_two_machines_on_one_host(setup, tmp_path):
    """Two 'machines' (one process each, ranks 0 and 1, meeting at 127.0.0.1): each keeps its own run folder, with
    its own checkpoints (saved on every machine, so each can resume) and adapter."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runs = [start_run(config(setup, max_steps=10, num_machines=2, machine_rank=rank, main_address="127.0.0.1",
                             main_port=port), tmp_path / f"machine{rank}") for rank in (0, 1)]
    for run in runs:
        status = wait(run, echo=lambda *_: None)
        assert status.state == "finished" and status.step == 10, status
        assert status.ranks["machines"] == 2 and status.ranks["local"] == 1
        assert latest_checkpoint(run).name == "checkpoint-10"
        assert (run / "adapter" / "adapter_model.safetensors").exists()
        assert [m["step"] for m in read_metrics(run) if "loss" in m] == list(range(1, 11))


@pytest.mark.slow
def test_a_failing_rank_names_its_own_error(setup, tmp_path):
    """An error raised inside the ranks (here: no such LoRA target) reaches status.json with the rank."""
    run = start_run(config(setup, target_modules=["no_such_proj"], max_steps=3), tmp_path / "runs")
    status = wait(run, echo=lambda *_: None)
    assert status.state == "failed"
    assert "rank" in status.error and "no_such_proj" in status.error, status.error
    assert not ranks_alive(run)


@pytest.mark.parametrize("change, key", [
    (dict(num_processes=64), "err.dist.too_many_cpus"),
    (dict(num_processes=3, num_machines=2, main_address="10.0.0.1"), "err.dist.uneven"),
    (dict(num_machines=2, machine_rank=2, main_address="10.0.0.1"), "err.dist.machine_rank"),
    (dict(num_machines=2, machine_rank=1), "err.dist.address"),
    (dict(main_port=80), "err.dist.port_range"),
    (dict(strategy="fsdp"), "err.dist.gpu_only"),
    (dict(strategy="deepspeed-zero2"), "err.dist.gpu_only"),
])
def test_impossible_settings_are_refused_up_front(setup, tmp_path, change, key):
    cfg = config(setup, **change)
    with pytest.raises(StudioError) as e:
        start_run(cfg, tmp_path / "runs")
    assert e.value.key == key
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing was started
    assert e.value.render("ja") != e.value.render("en")


def test_gpu_only_combinations_are_checked_on_their_own_terms(setup, monkeypatch):
    """As on a machine with 4 GPUs: more processes than GPUs, deepspeed missing, a 4-bit base with sharding."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(StudioError) as e:
        distributed.check(config(setup, num_processes=8), "cuda", 4)
    assert e.value.key == "err.dist.too_many_gpus" and "4" in str(e.value)
    with pytest.raises(StudioError) as e:
        distributed.check(config(setup, num_processes=4, strategy="deepspeed-zero3"), "cuda", 4)
    assert e.value.key == "err.dist.no_deepspeed"
    with pytest.raises(StudioError) as e:
        distributed.check(config(setup, num_processes=4, strategy="fsdp", load_in_4bit=True), "cuda", 4)
    assert e.value.key == "err.dist.qlora_sharded"
    distributed.check(config(setup, num_processes=4, load_in_4bit=True), "cuda", 4)  # QLoRA + DDP is fine
    distributed.check(config(setup, num_processes=4, strategy="fsdp"), "cuda", 4)  # 16-bit LoRA + FSDP too
    distributed.check(config(setup, num_processes=8, num_machines=2, machine_rank=1, main_address="h"), "cuda", 4)


def test_a_port_in_use_is_named(setup, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(StudioError) as e:
            start_run(config(setup, main_port=port), tmp_path / "runs")
    assert e.value.key == "err.dist.port_busy" and str(port) in str(e.value)
    assert distributed.rendezvous_port(config(setup, main_port=0)) > 0  # 0: any free port


def test_one_process_is_not_distributed(setup):
    cfg = config(setup, num_processes=1)
    assert not distributed.is_distributed(cfg) and distributed.trainer_kwargs(cfg, "cpu") == {}
    kw = distributed.trainer_kwargs(config(setup), "cpu")
    assert kw["ddp_backend"] == "gloo" and kw["save_on_each_node"] is False
    assert distributed.trainer_kwargs(config(setup, num_processes=4, num_machines=2), "cuda")["save_on_each_node"]
    ds = distributed.trainer_kwargs(config(setup, strategy="deepspeed-zero3"), "cuda")["deepspeed"]
    assert ds["zero_optimization"]["stage"] == 3
