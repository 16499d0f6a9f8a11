"""The runner as a user drives it: background process, stop, resume, SIGKILL, one run at a time."""
import os
import signal

import pytest

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("bitsandbytes")

from studio.core.errors import StudioError  # noqa: E402
from studio.data.persona import Persona, QAPair  # noqa: E402
from studio.data.persona_store import save_persona  # noqa: E402
from studio.jobs.checkpoints import latest_checkpoint  # noqa: E402
from studio.jobs.launcher import (  # noqa: E402
    refresh,
    request_stop,
    wait,  # noqa: E402
)
from studio.jobs.runs import list_runs, read_metrics  # noqa: E402
from studio.tiny import save_tiny_model  # noqa: E402
from studio.train.config import TrainConfig  # noqa: E402
from studio.train.launch import resume_run, start_run  # noqa: E402
from tests.conftest import wait_for  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    model = save_tiny_model(root / "tiny", "chatml")
    pairs = [QAPair(f"質問{i}？", f"答え{i}ですわ。") for i in range(12)]
    save_persona(Persona(name="t", pairs=pairs), root / "p")
    return root, model


def cfg(setup, **kw):
    root, model = setup
    return TrainConfig(**{**dict(model=str(model), data=str(root / "p"), max_steps=400, batch_size=2,
                                 grad_accum=1, save_steps=2, max_length=64, lora_r=4), **kw})


@pytest.mark.slow
def test_stop_resume_and_kill(setup, tmp_path):
    runs = tmp_path / "runs"
    run = start_run(cfg(setup), runs)
    assert (run / "data" / "pairs.csv").exists() and (run / "config.yaml").exists()
    wait_for(lambda: (refresh(run).step or 0) >= 3)
    with pytest.raises(StudioError, match=f"Run {run.name} is still training"):
        start_run(cfg(setup), runs)
    request_stop(run)
    status = wait(run, echo=lambda *_: None)
    assert status.state == "stopped" and status.step < 400
    stopped_at = status.step
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(setup[1])
    PeftModel.from_pretrained(base, run / "adapter")  # the stopped run's adapter loads
    assert latest_checkpoint(run).name == f"checkpoint-{stopped_at}"

    resume_run(run, runs)
    wait_for(lambda: (refresh(run).step or 0) >= stopped_at + 3)
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    assert steps[steps.index(stopped_at) + 1] == stopped_at + 1  # the step count continues
    pid = refresh(run).pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: refresh(run).state == "failed")
    assert "killed or crashed" in refresh(run).error and "resume continues" in refresh(run).error
    assert "強制終了" in refresh(run).error_i18n["ja"]
    assert [r.state for r in list_runs(runs)] == ["failed"]
    resume_run(run, runs)  # resumable after SIGKILL
    wait_for(lambda: refresh(run).state == "running" and (refresh(run).step or 0) > stopped_at + 3)
    request_stop(run)
    assert wait(run, echo=lambda *_: None).state == "stopped"


@pytest.mark.slow
def test_failure_is_reported_not_silent(setup, tmp_path):
    run = start_run(cfg(setup, max_steps=2, target_modules=["no_such_module"]), tmp_path / "runs")
    status = wait(run, echo=lambda *_: None)
    assert status.state == "failed" and "no_such_module" in status.error
    assert not (run / "adapter").exists()


@pytest.mark.slow
def test_damaged_checkpoint_is_skipped_on_resume(setup, tmp_path):
    runs = tmp_path / "runs"
    run = start_run(cfg(setup), runs)
    wait_for(lambda: (refresh(run).step or 0) >= 5)
    request_stop(run)
    stopped_at = wait(run, echo=lambda *_: None).step
    newest = latest_checkpoint(run)
    assert newest.name == f"checkpoint-{stopped_at}"
    weights = newest / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # as a kill or a full disk during the save leaves it
    previous = latest_checkpoint(run)
    assert previous is not None and int(previous.name.split("-")[1]) < stopped_at
    resume_run(run, runs)
    wait_for(lambda: (refresh(run).step or 0) >= stopped_at + 1)
    request_stop(run)
    assert wait(run, echo=lambda *_: None).state == "stopped"
    log = (run / "log.txt").read_text()
    assert "gemm_4bit_forward" not in log   # bitsandbytes' optional-kernels hint no longer opens every log
    assert f"skipping damaged checkpoint-{stopped_at}: adapter_model.safetensors" in log
    assert f"resuming from {previous.name}" in log
    for ckpt in (run / "checkpoints").glob("checkpoint-*"):
        (ckpt / "trainer_state.json").write_text("{")
    with pytest.raises(StudioError, match=r"no usable checkpoint to resume from \(damaged: checkpoint-\d+: "
                                          r"trainer_state.json cannot be read"):
        resume_run(run, runs)


def test_full_disk_is_explained():
    from studio.train.worker import explain
    with pytest.raises(OSError) as e:
        with open("/dev/full", "w") as f:  # a real ENOSPC from the kernel
            f.write("x")
    assert str(explain(e.value)).startswith("The disk is full.")
    assert explain(e.value).render("ja").startswith("ディスクがいっぱい")
