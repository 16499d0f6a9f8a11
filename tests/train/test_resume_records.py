"""A resumed run starts clean (no failure text of the attempt before it, in any language) and its elapsed time goes
on from where the checkpoint left it, so the step-time estimate after a resume is the run's real pace."""
from types import SimpleNamespace

from studio.jobs.folders import Run
from studio.jobs.runs import append_metrics, read_metrics
from studio.jobs.status import error_fields, read_status, write_status
from studio.locale import T


def test_resume_forgets_the_last_failure_in_every_language(tmp_path, monkeypatch):
    from studio.train import launch
    run = tmp_path / "run"
    run.mkdir()
    write_status(run, state="failed", **error_fields(T("train.oom")))
    assert read_status(run).error_i18n["ja"]
    monkeypatch.setattr(launch, "latest_checkpoint", lambda r: run / "checkpoints" / "checkpoint-3")
    monkeypatch.setattr(launch, "_spawn", lambda r, resume: None)
    launch.resume_run(run, tmp_path)
    status = read_status(run)
    assert status.state == "queued" and status.error is None and status.error_i18n is None


def test_elapsed_time_goes_on_after_a_resume(tmp_path):
    from studio.train.callbacks import RunFilesCallback
    run = Run(tmp_path / "run")
    run.path.mkdir()
    write_status(run.path, state="running", pid=1)
    for step in range(1, 6):
        append_metrics(run.path, {"step": step, "elapsed_s": 10.0 * step, "loss": 1.0})
    callback = RunFilesCallback(run.path)
    state = SimpleNamespace(global_step=5, max_steps=10)
    callback.on_train_begin(None, state, None)
    state.global_step = 6
    callback.on_log(None, state, None, logs={"loss": 0.5})
    assert 50.0 <= read_metrics(run.path)[-1]["elapsed_s"] < 55.0
