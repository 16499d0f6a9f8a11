"""The Train tab through gradio_client: start a run, watch metrics arrive, see it in the history."""
import time

import pytest

pytest.importorskip("bitsandbytes")
from gradio_client import Client  # noqa: E402

from studio.tiny import save_tiny_model  # noqa: E402
from studio.train.config import DEFAULT_TARGETS  # noqa: E402


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    from studio.ui.app import build_app
    demo, i18n = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", i18n=i18n, quiet=True)
    yield url, model
    demo.close()


def settings(model, **kw):
    values = dict(model=str(model), template="model", max_steps=8, lr=2e-3, rank=4, batch=4, max_len=512,
                  four_bit=True, alpha=8, dropout=0.0, targets=DEFAULT_TARGETS, rslora=False, dora=False,
                  grad_ckpt=False, group_len=True, double_q=True, accum=1, epochs=1.0, warmup=0, sched="linear",
                  wd=0.0, optim="adamw_8bit", seed=1, neftune=0, eval_frac=0.0, save_steps=4, add_tokens=False,
                  override=False, remote=False)
    values.update(kw)
    return list(values.values())


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
        progress, _bar, plot, log, history, _ = c.predict(api_name="/train_progress")
        if "finished" in progress or "failed" in progress:
            break
        time.sleep(1)
    assert "finished · step 8/8" in progress, progress + log
    assert [row[0] for row in plot["data"]] == list(range(1, 9)) and plot["data"][0][2] == "train"
    assert history["data"][0][1] == "finished"
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
    a, b, _, status = chat.predict("こんにちは", "base", f"run:{run_id}", False, *chat_settings,
                                   api_name="/chat_send")
    assert len(b["value"]) == 4 and not b["value"][3]["content"][0]["text"].startswith("⚠")  # reloaded, history kept
    deadline = time.time() + 120
    while time.time() < deadline and "finished" not in c.predict(api_name="/train_progress")[0]:
        time.sleep(1)
