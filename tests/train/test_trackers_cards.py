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
