"""Trackers and model cards (issue 25): TensorBoard events land in the run folder and read back; every adapter,
merged model and export carries a Hugging Face model card whose YAML header the Hub can read."""
import pytest
import yaml

from studio.core.errors import StudioError
from studio.train.config import TrainConfig, trackers
from tests.conftest import finished_run


def header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.slow
def test_tensorboard_events_are_written_into_the_run_and_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    from studio.jobs.folders import Run
    from studio.tiny import save_tiny_model
    from studio.train.worker import prepare
    save_persona(Persona(system_prompt="お嬢様", pairs=[QAPair(f"q{i}", "ですわ。") for i in range(8)]), tmp_path / "p")
    cfg = TrainConfig(model=str(save_tiny_model(tmp_path / "m", "chatml")), data=str(tmp_path / "p"), max_steps=3,
                      batch_size=4, grad_accum=1, load_in_4bit=False, max_length=64, save_steps=1000,
                      report_to="auto")
    run = Run(tmp_path / "run")
    run.path.mkdir()
    prepare(run.path, cfg).trainer.train()
    files = list(run.tensorboard.rglob("events.out.tfevents.*"))
    assert files, list(run.path.rglob("*"))
    events = EventAccumulator(str(files[0].parent))
    events.Reload()
    assert len(events.Scalars("train/loss")) == 3


def test_a_chosen_tracker_that_is_not_installed_is_refused(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(StudioError) as e:
        trackers(TrainConfig(report_to="wandb"))
    assert e.value.key == "err.train.tracker_missing" and "pip install wandb" in str(e.value)
    assert trackers(TrainConfig(report_to="none")) == []


@pytest.mark.slow
def test_model_cards_for_an_adapter_and_a_merged_model(tmp_path):
    from studio.export.model_card import card_for_merged, write_model_card
    from studio.format.contract import Contract
    from studio.serve.merge import merge_adapter
    run = finished_run(tmp_path)
    card = write_model_card(run, run.adapter, "adapter").read_text(encoding="utf-8")
    meta = header(card)
    assert meta["library_name"] == "peft" and "lora" in meta["tags"] and "persona-studio" in meta["tags"]
    assert meta["license"] == "other" and "ja" in meta["language"]   # a local random base: no licence to copy
    assert "template: `model`" in card and Contract.load(run.adapter).system_prompt in card
    assert "| lora_r | 4 |" in card
    report = merge_adapter(run.id, None, tmp_path / "runs")
    merged = card_for_merged(report.out).read_text(encoding="utf-8")
    assert header(merged)["library_name"] == "transformers" and "lora" not in header(merged)["tags"]


def test_trackers_write_into_the_run_folder_and_wandb_goes_offline_without_a_network(tmp_path, monkeypatch):
    """Issue 32: wandb sat ~100 s in 'trainer' offline and wrote wandb/ (and mlflow mlflow.db) into the project
    folder; the run's trackers/ folder holds them now, and wandb logs offline at once without a network."""
    import os

    from studio.core import models
    from studio.jobs.folders import Run
    from studio.train.steps import tracker_env
    for key in ("WANDB_DIR", "WANDB_MODE", "MLFLOW_TRACKING_URI", "TRACKIO_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(models, "hub_reachable", lambda timeout=3.0: False)
    run = Run(tmp_path / "run")
    tracker_env(run, ["wandb", "mlflow", "trackio"])
    assert os.environ["WANDB_DIR"] == str(run.trackers) and os.environ["WANDB_MODE"] == "offline"
    assert os.environ["MLFLOW_TRACKING_URI"].endswith(str(run.trackers / "mlflow.db"))
    assert os.environ["TRACKIO_DIR"].startswith(str(run.trackers))
    monkeypatch.setenv("WANDB_DIR", "/mine")
    tracker_env(run, ["wandb"])
    assert os.environ["WANDB_DIR"] == "/mine"   # the user's own setting wins


def test_push_offline_says_so_in_one_sentence(tmp_path, monkeypatch):
    """Issue 32: offline, push said '[Errno -2] Name or service not known'."""
    import huggingface_hub

    from studio.core import models
    from studio.core.errors import StudioError
    from studio.export.push import push_run
    from studio.jobs.folders import Run
    run = Run(tmp_path / "runs" / "r1")
    run.adapter.mkdir(parents=True)
    (run.adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_x")
    monkeypatch.setattr(models, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(StudioError) as e:
        push_run("r1", tmp_path / "runs", "me/ayano")
    assert e.value.key == "err.push.offline"
