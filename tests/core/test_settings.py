"""Each training setting is declared once (TrainConfig's fields): the CLI flags, the YAML reading and the Train
tab's widgets come from the declarations, and every field is reachable from each of them."""
import argparse

import pytest
import yaml

from studio.core.errors import StudioError
from studio.core.settings import flag_name, given_flags, meta_of, settings_of
from studio.train.config import TrainConfig


def train_parser() -> argparse.ArgumentParser:
    from studio.cli.main import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_field_is_declared_with_a_flag_and_a_widget_or_a_reason():
    from studio.ui.train_tab import ROWS
    declared = {f.name for f in settings_of(TrainConfig)}
    assert declared == set(TrainConfig.__dataclass_fields__), "a TrainConfig field without setting(...)"
    flags = {s for a in train_parser()._actions for s in a.option_strings}
    for f in settings_of(TrainConfig):
        meta = meta_of(f)
        assert flag_name(f.name) in flags, f"{f.name} has no command-line flag"
        assert meta.help, f"{f.name} has no help text"
        assert (meta.ui is None) != (not meta.not_in_ui), f"{f.name}: a widget, or why it is not in the UI"
        if meta.ui:
            assert meta.ui.row in ROWS, f"{f.name}: row {meta.ui.row!r} is not laid out by the Train tab"


def test_flags_override_a_config_with_the_declared_types(tmp_path):
    args = train_parser().parse_args(["--lora-r", "8", "--no-packing", "--target-modules", "q_proj", "v_proj",
                                      "--neftune-alpha", "5", "--allow-doctor-errors", "--template", "llama3"])
    given = given_flags(args, TrainConfig)
    assert given == {"lora_r": 8, "packing": False, "target_modules": ["q_proj", "v_proj"], "neftune_alpha": 5.0,
                     "allow_doctor_errors": True, "template": "llama3"}
    cfg = TrainConfig.from_dict({**TrainConfig(packing=True).__dict__, **given})
    assert (cfg.lora_r, cfg.packing, cfg.neftune_alpha) == (8, False, 5.0)
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--template", "nope"])


def test_yaml_reads_every_field_back_and_names_a_bad_one(tmp_path):
    cfg = TrainConfig(lora_r=4, target_modules=["q_proj"], neftune_alpha=2.5, warmup_steps=0.1, packing=True)
    path = tmp_path / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    assert TrainConfig.load(path) == cfg
    path.write_text(yaml.safe_dump({"lora_r": "many"}), encoding="utf-8")
    with pytest.raises(StudioError) as e:
        TrainConfig.load(path)
    assert "lora_r" in str(e.value) and "many" in str(e.value)
    path.write_text(yaml.safe_dump({"lora_rank": 4}), encoding="utf-8")
    with pytest.raises(StudioError) as e:
        TrainConfig.load(path)
    assert "lora_rank" in str(e.value)
    # strings from a form or a file become the declared types
    assert TrainConfig.from_dict({"max_steps": "12", "packing": "yes", "learning_rate": "1e-4"}).max_steps == 12


def test_an_older_config_without_newer_keys_still_loads(tmp_path):
    old = {k: v for k, v in TrainConfig().__dict__.items() if k not in ("packing", "replay_share", "num_processes")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old), encoding="utf-8")
    assert TrainConfig.load(path) == TrainConfig()


def test_every_shown_setting_has_a_label_in_each_language():
    from studio.locale import CATALOGS
    for f in settings_of(TrainConfig):
        ui = meta_of(f).ui
        if ui is None:
            continue
        key = ui.label or f"field.{f.name}"
        for lang, table in CATALOGS.items():
            assert key in table, (lang, f.name)
        assert not CATALOGS["ja"][key].isascii(), f.name   # Japanese down to the last label
