"""Every phase of a run is visible and stoppable (issue 26, major 1): the replay answers the base makes before
training report n/N with an ETA in the Train tab's line, and Stop ends them after the current batch."""
import time

import pytest

from studio.train.config import TrainConfig


@pytest.mark.slow
def test_stop_during_replay_generation_ends_the_run_within_seconds(tmp_path):
    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    from studio.jobs.launcher import request_stop
    from studio.jobs.status import read_status
    from studio.tiny import save_tiny_model
    from studio.train.launch import start_run
    from studio.train.views import progress_text
    save_persona(Persona(system_prompt="お嬢様", pairs=[QAPair(f"q{i}", "ですわ。") for i in range(8)]), tmp_path / "p")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"Tell me about topic {i}.\n" for i in range(400)), encoding="utf-8")
    cfg = TrainConfig(model=str(save_tiny_model(tmp_path / "m", "chatml")), data=str(tmp_path / "p"), max_steps=5,
                      batch_size=4, load_in_4bit=False, max_length=128, replay_share=0.25,
                      replay_prompts=str(prompts))
    run = start_run(cfg, tmp_path / "runs")
    while (read_status(run).get("phase") or {}).get("done") is None:   # the phase has begun (the base is loaded)
        assert read_status(run)["state"] in ("queued", "running"), read_status(run)
        time.sleep(0.1)
    while (read_status(run).get("phase") or {}).get("done", 0) < 8:     # one batch answered
        assert read_status(run)["state"] in ("queued", "running"), read_status(run)
        time.sleep(0.1)
    line_en, _ = progress_text(run, "en")
    line_ja, _ = progress_text(run, "ja")
    assert "general prompts for replay" in line_en and "/400" in line_en and "リプレイ" in line_ja
    request_stop(run)
    asked_at = read_status(run)["phase"]["done"]
    t0 = time.time()
    while read_status(run)["state"] not in ("stopped", "failed", "finished"):
        assert time.time() - t0 < 600, "stop was not honoured"   # all 50 batches would take far longer
        time.sleep(0.2)
    status = read_status(run)
    assert status["state"] == "stopped", status
    # it ended after the batch in flight: at most 8 more prompts were answered (the other ~48 batches never ran)
    assert status["phase"]["done"] <= asked_at + 8, (asked_at, status["phase"])
    assert not (run / "replay.jsonl").exists()   # nothing half-made is kept as the run's replay answers
