"""Which settings a preference method shows, and what a preference run takes from its parent, come from the settings'
declarations (`preference=True`, `inherited=True` in studio/train/config.py): no second list to keep in step."""
import gradio as gr

from studio.core.settings import flagged, meta_of, settings_of
from studio.train.config import TrainConfig
from studio.train.methods import METHODS
from studio.train.preference_launch import FROM_PARENT
from studio.ui.train_tab import PREFERENCE_FIELDS, STARTS, on_method


def test_the_lists_are_the_declarations():
    assert PREFERENCE_FIELDS == ("parent_run", "preferences", "beta", "loss_type")
    assert FROM_PARENT == flagged(TrainConfig, "inherited")
    assert {"model", "template", "lora_r", "target_modules", "system_prompt"} <= set(FROM_PARENT)
    assert not set(FROM_PARENT) & {"learning_rate", "max_steps", "beta", "method", "preferences"}
    for f in settings_of(TrainConfig):
        assert not (meta_of(f).inherited and meta_of(f).preference), f.name


def test_switching_method_shows_the_preference_settings_by_name(monkeypatch):
    monkeypatch.setattr("studio.ui.train_tab.parent_choices", lambda: ["run-a"])
    for name, method in METHODS.items():
        out = dict(zip((*PREFERENCE_FIELDS, *STARTS), on_method(name, "run-a")))
        assert all(out[f]["visible"] == method.needs_parent for f in PREFERENCE_FIELDS), name
        if method.needs_parent:
            assert out["parent_run"]["choices"] == ["run-a"] and out["parent_run"]["value"] == "run-a"
            assert out["loss_type"]["value"] == method.default_loss
            assert (out["learning_rate"], out["max_steps"], out["batch_size"], out["replay_share"]) == (
                method.learning_rate, method.max_steps, method.batch_size, 0.0)
        else:
            assert all(out[s] == gr.skip() for s in STARTS)
