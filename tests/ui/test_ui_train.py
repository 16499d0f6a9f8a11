"""The Train tab through gradio_client: start a run, watch metrics arrive, see it in the history."""
import time

import pytest

from tests.conftest import launch_app

pytest.importorskip("bitsandbytes")
from gradio_client import Client  # noqa: E402

from studio.tiny import save_tiny_model  # noqa: E402
from studio.train.config import DEFAULT_TARGETS  # noqa: E402


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    demo, url = launch_app()
    yield url, model
    demo.close()


def settings(model, **kw):
    values = dict(model=str(model), template="model", max_steps=8, lr=2e-3, rank=4, batch=4, max_len=512,
                  four_bit=True, alpha=8, dropout=0.0, targets=DEFAULT_TARGETS, rslora=False, dora=False,
                  grad_ckpt=False, group_len=True, pad_free=True, trained_only=True, liger=False, double_q=True,
                  accum=1, epochs=1.0,
                  warmup=0,
                  sched="linear",
                  wd=0.0, optim="adamw_8bit", seed=1, neftune=0, eval_frac=0.0, save_steps=4, add_tokens=False,
                  replay=0.0, replay_sys="none", packing=False, procs=1, strategy="ddp", machines=1, machine_rank=0,
                  address="", port=0, override=False, remote=False)
    values.update(kw)
    return list(values.values())


@pytest.mark.slow
def test_train_tab_starts_a_run_and_shows_metrics(app):
    url, model = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    bad = c.predict(*settings(model, rank=0), api_name="/start_training")
    assert "lora_r" in bad
    msg = c.predict(*settings(model), api_name="/start_training")
    assert msg.startswith("Started ")
    deadline = time.time() + 180
    while time.time() < deadline:
        progress, _bar, plot, log, history, _, persona_info = c.predict(api_name="/train_progress")
        if "finished" in progress or "failed" in progress:
            break
        time.sleep(1)
    assert "finished · step 8/8" in progress, progress + log
    assert [row[0] for row in plot["data"]] == list(range(1, 9)) and plot["data"][0][2] == "train"
    assert history["data"][0][1] == "finished"
    # the tab says which persona Start trains, and which one the shown run trained (same data: same hash)
    now, shown = persona_info.split("\n")
    assert "桜小路綾乃" in now and "`ayano`" in now and "143 rows" in now and "trained 桜小路綾乃" in shown
    assert now.split("data ")[1][:8] == shown.split("data ")[1][:8]
    second = Client(url, verbose=False)  # a new browser tab re-attaches through the same run files
    assert "finished · step 8/8" in second.predict(api_name="/train_progress")[0]
    run_id = history["data"][0][0]

    # another tab chats with the finished run; starting a training from this tab frees that tab's model
    chat = Client(url, verbose=False)
    chat_settings = [0.0, 1.0, 0, 1.0, 4, 0]
    a, b, *_ = chat.predict("ごきげんよう", "base", f"run:{run_id}", False, *chat_settings, api_name="/chat_send")
    assert b["value"][1]["role"] == "assistant"
    msg = c.predict(*settings(model, max_steps=2, save_steps=2), api_name="/start_training")
    assert msg.startswith("Started ") and "Released 1 chat model(s)" in msg
    a, b, _, status, *_ = chat.predict("こんにちは", "base", f"run:{run_id}", False, *chat_settings,
                                       api_name="/chat_send")
    assert len(b["value"]) == 4 and not b["value"][3]["content"][0]["text"].startswith("⚠")  # reloaded, history kept
    deadline = time.time() + 120
    while time.time() < deadline and "finished" not in c.predict(api_name="/train_progress")[0]:
        time.sleep(1)
    assert "finished · step 2/2" in c.predict(api_name="/train_progress")[0]  # the second run ran to its end


@pytest.mark.slow
def test_validation_errors_block_the_start_button(app):
    """A row with an empty answer (EMPTY_ANSWER) refuses the start, naming the row; the override starts it with the
    error listed as a warning."""
    url, model = app
    c = Client(url, verbose=False)
    table = c.predict("ayano", "", "row", api_name="/open_persona")[7]
    table["data"][4][2] = ""
    c.predict(table, api_name="/edit_table")
    refused = c.predict(*settings(model, max_steps=1), api_name="/start_training")
    assert "not started" in refused and "EMPTY_ANSWER (row 5)" in refused, refused
    c.predict("ja", api_name="/set_language")
    refused_ja = c.predict(*settings(model, max_steps=1), api_name="/start_training")
    assert "学習を開始しませんでした" in refused_ja and "EMPTY_ANSWER(5行目)" in refused_ja, refused_ja
    started = c.predict(*settings(model, max_steps=1, override=True), api_name="/start_training")
    assert "を開始しました" in started and "EMPTY_ANSWER(5行目)" in started, started
    deadline = time.time() + 120
    while time.time() < deadline and "完了" not in c.predict(api_name="/train_progress")[0]:
        time.sleep(1)
    assert "完了 · ステップ 1/1" in c.predict(api_name="/train_progress")[0]


def test_settings_for_several_processes_are_checked_in_the_tab(app):
    """The tab's multi-process fields reach the config: what cannot run here is refused, in the UI's language,
    before anything starts."""
    url, model = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    c.predict("ja", api_name="/set_language")
    refused = c.predict(*settings(model, max_steps=1, procs=2, strategy="fsdp"), api_name="/start_training")
    assert "CUDA GPU" in refused and "ddp" in refused and "戦略" in refused, refused
    refused = c.predict(*settings(model, max_steps=1, procs=3, machines=2, address="10.0.0.1"),
                        api_name="/start_training")
    assert "num_machines の倍数" in refused, refused
    from studio.core.workspace import runs_dir
    from studio.jobs.runs import list_runs
    assert list_runs(runs_dir()) == []  # nothing was started


def test_a_setup_saved_in_the_tab_loads_back_into_every_field(app):
    """Issue 26: save the whole training setup under a name and load it back (LlamaBoard's save/load arguments)."""
    url, model = app
    c = Client(url, verbose=False)
    saved, pick = c.predict("速め", *settings(model, max_steps=77, lr=5e-4, rank=16), api_name="/save_setup")
    assert saved.startswith("Saved setup 速め") and "--config" in saved and pick["value"] == "速め"
    *fields, message = c.predict("速め", api_name="/load_setup")
    assert fields[:5] == [str(model), "model", 77, 5e-4, 16] and message.startswith("Loaded setup 速め")
    from studio.train.config import TrainConfig
    from studio.train.setups import save_setup
    save_setup("from another window", TrainConfig(model=str(model)))   # a second session, or another process
    listed = c.predict("速め", api_name="/list_setups")
    assert listed["value"] == "速め" and ["from another window"] * 2 in listed["choices"], listed


def test_quick_test_sets_a_few_steps_without_replay(app):
    url, _ = app
    c = Client(url, verbose=False)
    c.predict("ja", api_name="/set_language")
    *values, message = c.predict(api_name="/quick_test")
    assert values == [5, 5, 0.0, 0.0] and message.startswith("お試し: 5 ステップ")
