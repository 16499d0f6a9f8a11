"""Every phase of a run is visible and stoppable (issue 26, major 1): the replay answers the base makes before
training report n/N with an ETA in the Train tab's line, and Stop ends them after the current batch."""
import time

import pytest

from studio.train.config import TrainConfig

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)


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
    while (read_status(run).phase or {}).get("done") is None:   # the phase has begun (the base is loaded)
        assert read_status(run).state in ("queued", "running"), read_status(run)
        time.sleep(0.1)
    while (read_status(run).phase or {}).get("done", 0) < 8:     # one batch answered
        assert read_status(run).state in ("queued", "running"), read_status(run)
        time.sleep(0.1)
    line_en, _ = progress_text(run, "en")
    line_ja, _ = progress_text(run, "ja")
    assert "general prompts for replay" in line_en and "/400" in line_en and "リプレイ" in line_ja
    request_stop(run)
    asked_at = read_status(run).phase["done"]
    t0 = time.time()
    while read_status(run).state not in ("stopped", "failed", "finished"):
        assert time.time() - t0 < 600, "stop was not honoured"   # all 50 batches would take far longer
        time.sleep(0.2)
    status = read_status(run)
    assert status.state == "stopped", status
    # it ended within the batch in flight (a stop is checked at every token): later batches never ran, and at most a
    # batch that was being counted as the stop came is counted
    assert status.phase["done"] <= asked_at + 96 and status.phase["done"] < 400, (asked_at, status.phase)
    assert not (run / "replay.jsonl").exists()   # nothing half-made is kept as the run's replay answers


def _tiny_run(tmp_path, monkeypatch, **kw):
    """A run folder made as the Train tab makes it, its worker not started (the test runs it in-process)."""
    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    from studio.tiny import save_tiny_model
    from studio.train import launch
    monkeypatch.setattr(launch, "_spawn", lambda run, resume: None)
    save_persona(Persona(system_prompt="お嬢様", pairs=[QAPair(f"q{i}", "ですわ。") for i in range(4)]), tmp_path / "p")
    cfg = TrainConfig(model=str(save_tiny_model(tmp_path / "m", "chatml")), data=str(tmp_path / "p"), max_steps=2,
                      batch_size=2, load_in_4bit=False, max_length=64, replay_share=0.0, **kw)
    return launch.start_run(cfg, tmp_path / "runs")


def test_stop_while_the_base_model_loads_ends_the_worker_within_a_poll(tmp_path, monkeypatch):
    import threading

    from studio.jobs import stopwatch
    from studio.jobs.folders import Run
    from studio.jobs.status import read_status
    from studio.train import worker
    run = _tiny_run(tmp_path, monkeypatch)
    ended = threading.Event()
    seen: dict = {}

    def slow_load(setup, added):   # a load that takes minutes on a busy laptop: one call, no place to check
        seen["phase"] = read_status(run).phase
        Run(run).stop.write_text("stop requested\n")
        seen["asked"] = time.time()
        ended.wait(30)
        return None   # (the real process is gone by now; here the next phase sees the stop)

    monkeypatch.setattr(worker, "load_base", slow_load)
    monkeypatch.setattr(stopwatch, "end_process", lambda: (seen.setdefault("ended", time.time()), ended.set()))
    assert worker.run_worker(run) == 0
    assert "ended" in seen, "the watcher never ended the process"
    assert seen["phase"]["name"] == "load" and seen["phase"]["model"].endswith("m")
    assert seen["ended"] - seen["asked"] < 3 * stopwatch.POLL_S + 1
    assert read_status(run).state == "stopped" and not Run(run).adapter.exists()


def test_a_stop_between_phases_ends_the_run_before_anything_is_trained(tmp_path, monkeypatch):
    from studio.jobs.folders import Run
    from studio.jobs.launcher import request_stop
    from studio.jobs.status import read_status
    from studio.train import worker
    run = _tiny_run(tmp_path, monkeypatch)
    request_stop(run)
    assert worker.run_worker(run) == 0
    status = read_status(run)
    assert status.state == "stopped" and (status.step or 0) == 0 and not Run(run).adapter.exists()


@pytest.mark.parametrize("name,detail,en,ja", [
    ("start", {}, "loading the training libraries", "ライブラリを読み込んで"),
    ("data", {}, "reading the persona", "ペルソナを読み込み"),
    ("load", {"model": "google/gemma-3-270m"}, "loading the base model google/gemma-3-270m",
     "ベースモデル google/gemma-3-270m を読み込んで"),
    ("trainer", {}, "setting up the trainer", "トレーナーを準備"),
    ("first_step", {}, "computing the first step", "最初のステップを計算"),
    ("save", {}, "Saving the adapter", "アダプターを保存"),
])
def test_each_phase_is_a_line_in_both_languages_with_its_elapsed_time(name, detail, en, ja):
    from studio.train.views import phase_text
    phase = {"name": name, "since": time.time() - 75, **detail}
    assert en in phase_text(phase, "en") and "1:15 so far" in phase_text(phase, "en")
    assert ja in phase_text(phase, "ja") and "経過 1:15" in phase_text(phase, "ja")
    assert phase_text({"name": "../x"}, "en") == ""   # a name the tables do not have shows nothing, not a key


def _stop_when(run, seen, ended):
    """Ask for a stop now (as the Train tab does), then wait as a long library call would."""
    from studio.jobs.launcher import request_stop
    request_stop(run)
    seen["asked"] = time.time()
    ended.wait(30)


@pytest.mark.parametrize("where", ["trainer", "first_step"])
def test_stop_while_the_trainer_is_set_up_or_the_first_step_runs_ends_the_worker_within_a_poll(tmp_path, monkeypatch,
                                                                                               where):
    """Issue 37: pressed while the base loaded (quick test, a busy machine), the worker went on to set up the trainer
    and ran step 1 (57 s) before stopping, and the state flipped from stopping back to running. Until the first
    step ends nothing is written that a stop must keep: the process ends within a poll, from either place."""
    import threading

    from transformers import TrainerCallback

    from studio.jobs import stopwatch
    from studio.jobs.status import read_status
    from studio.train import worker
    from studio.train.methods import sft
    run = _tiny_run(tmp_path, monkeypatch)
    ended, seen = threading.Event(), {}
    if where == "trainer":
        make = sft.trainer

        def slow_trainer(setup, data, model, lora):
            seen["phase"] = read_status(run).phase
            _stop_when(run, seen, ended)
            return make(setup, data, model, lora)
        monkeypatch.setattr(sft, "trainer", slow_trainer)
    else:
        class SlowFirstStep(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if state.global_step == 0:
                    seen["phase"] = read_status(run).phase
                    seen["state"] = read_status(run).state
                    _stop_when(run, seen, ended)
        prepare = worker.prepare

        def with_slow_step(run_, cfg):
            prepared = prepare(run_, cfg)
            prepared.trainer.add_callback(SlowFirstStep())
            return prepared
        monkeypatch.setattr(worker, "prepare", with_slow_step)
    monkeypatch.setattr(stopwatch, "end_process", lambda: (seen.setdefault("ended", time.time()), ended.set()))
    worker.run_worker(run)
    assert "ended" in seen, "the watcher never ended the process"
    assert seen["phase"]["name"] == where and seen["ended"] - seen["asked"] < 3 * stopwatch.POLL_S + 1
    assert seen.get("state", "running") == "running"   # the first step's own line: running, until the stop
    assert read_status(run).state == "stopped"   # (here the process is not ended; the watcher recorded the stop)


def test_the_first_step_never_turns_a_stop_back_into_running(tmp_path):
    from types import SimpleNamespace

    from studio.jobs.folders import Run
    from studio.jobs.status import read_status, write_status
    from studio.train.callbacks import RunFilesCallback
    run = tmp_path / "run"
    run.mkdir()
    write_status(run, state="stopping", pid=1)
    Run(run).stop.write_text("stop requested\n")
    RunFilesCallback(run).on_train_begin(None, SimpleNamespace(global_step=0, max_steps=5), None)
    status = read_status(run)
    assert status.state == "stopping" and status.phase["name"] == "first_step"
