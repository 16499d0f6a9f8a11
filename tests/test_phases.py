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
    began = time.time()
    while (read_status(run).get("phase") or {}).get("done", 0) < 8:     # one batch answered
        assert read_status(run)["state"] in ("queued", "running"), read_status(run)
        time.sleep(0.1)
    batch_s = time.time() - began   # what one batch takes on this machine now (a busy one is slower)
    line_en, _ = progress_text(run, "en")
    line_ja, _ = progress_text(run, "ja")
    assert "general prompts for replay" in line_en and "/400" in line_en and "リプレイ" in line_ja
    request_stop(run)
    t0 = time.time()
    while read_status(run)["state"] not in ("stopped", "failed", "finished"):
        assert time.time() - t0 < 45 * batch_s + 60, "stop was not honoured"   # all 50 batches would be later
        time.sleep(0.2)
    took = time.time() - t0
    assert read_status(run)["state"] == "stopped", read_status(run)
    assert took < 2 * batch_s + 10, (took, batch_s)   # within the current batch (the other 49 never ran)
