"""Issue 26: a whole training setup saved and loaded from the Train tab (the same YAML the CLI's --config reads),
its name never a path outside the setups folder."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.errors import StudioError
from studio.core.workspace import setups_dir
from studio.train.config import TrainConfig
from studio.train.setups import list_setups, load_setup, save_setup


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))


def test_a_setup_round_trips_and_the_cli_reads_it(tmp_path):
    cfg = TrainConfig(model="smollm2", learning_rate=3e-4, lora_r=32, max_steps=90, data="/somewhere/persona",
                      target_modules=["q_proj", "v_proj"], scheduler="constant")
    path = save_setup("お嬢様 速め", cfg)
    assert path.parent == setups_dir() and list_setups() == ["お嬢様 速め"]
    back = load_setup("お嬢様 速め")
    assert back == TrainConfig(**{**cfg.__dict__, "data": ""})      # the persona is not part of a setup
    assert TrainConfig.load(path) == back                            # what `studio train --config` reads


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd", "a/b", "..", "con\x00trol"])
def test_hostile_names_stay_inside_the_setups_folder(name):
    try:
        path = save_setup(name, TrainConfig())
    except StudioError:
        return
    assert path.resolve().parent == setups_dir().resolve()
    with pytest.raises(StudioError):
        load_setup("../" + path.stem)


def test_no_name_or_an_unknown_setup_is_refused_in_both_languages():
    with pytest.raises(StudioError) as e:
        save_setup("  ", TrainConfig())
    assert e.value.render("ja") == "先に設定の名前を入力してください。"
    with pytest.raises(StudioError) as e:
        load_setup("nothing")
    assert "保存した設定 'nothing' はありません" in e.value.render("ja")


@settings(max_examples=30, deadline=None)
@given(lr=st.floats(1e-7, 1.0, allow_nan=False), r=st.integers(1, 512), steps=st.integers(0, 100_000),
       prompt=st.text(max_size=60))
def test_any_settings_read_back_as_saved(lr, r, steps, prompt):
    cfg = TrainConfig(learning_rate=lr, lora_r=r, max_steps=steps, system_prompt=prompt)
    save_setup("p", cfg)
    assert load_setup("p") == cfg


@pytest.mark.parametrize("name", ["..", "a\u202eb", "../../escape", "x/y", " . "])
def test_a_name_that_is_not_a_file_name_is_refused_not_changed(name):
    """Issue 32: '..' got the persona-name message, U+202E was kept in the file name, and '../../escape' and
    '_.._escape' silently became the same file."""
    with pytest.raises(StudioError) as e:
        save_setup(name, TrainConfig())
    assert e.value.key == "setup.bad_name" and "ファイル名" in e.value.render("ja")
    assert save_setup("_.._escape", TrainConfig()).name == "_.._escape.yaml"
