"""The job runner (merge, combine, evaluate as child processes): states on disk, kill, stop, damaged folders,
a pid that now belongs to another process, and one GPU job at a time."""
import json
import os
import signal
import time

import pytest

from studio.core.errors import StudioError
from studio.jobs.launcher import busy_with, describe, list_jobs, refresh, request_stop, start_job
from studio.jobs.params import EvalParams, MergeParams
from studio.jobs.status import STATUS, process_start, write_status
from studio.jobs.status import write_status as write_run_status
from studio.tiny import save_tiny_model
from tests.conftest import train_adapter


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    model = save_tiny_model(root / "base", "chatml")
    runs = root / "runs"
    (runs / "20260101-000000-one").mkdir(parents=True)
    train_adapter(root / "one", model, 1).rename(runs / "20260101-000000-one" / "adapter")
    write_run_status(runs / "20260101-000000-one", state="finished", step=5, total=5)
    probe = root / "probe.txt"
    # many questions: answered in batches of up to 96 rows, the evaluation must still be answering when a test acts
    probe.write_text("".join(f"質問{i}ですか？\n" for i in range(2000)), encoding="utf-8")
    return runs, probe


def wait_state(folder, states, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = refresh(folder)
        if status.state in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"{folder.name} stayed {refresh(folder).state}")


@pytest.mark.slow
def test_a_killed_evaluation_is_failed_with_its_reason_and_blocks_nothing(runs):
    runs, probe = runs
    job = start_job("eval", EvalParams("20260101-000000-one", str(probe), 8), runs, "one")
    wait_state(job, {"running"})
    deadline = time.time() + 120
    while "answer" not in json.dumps(refresh(job).message or {}) and time.time() < deadline:
        time.sleep(0.05)  # mid-way: it has started answering (or answered a first batch)
    from studio.core.models import device
    here = "GPU" if device() == "cuda" else "CPU"   # the device this machine has, not always "GPU"
    with pytest.raises(StudioError, match=f"is using the {here}; only one training or job runs at a time") as e:
        start_job("merge", MergeParams("20260101-000000-one"), runs)  # one job at a time, said plainly
    assert f"が{here}" in e.value.render("ja")
    assert busy_with(runs) == job.name
    os.kill(refresh(job).pid, signal.SIGKILL)
    status = wait_state(job, {"failed"})
    assert "ended without finishing" in status.error and "強制終了" in status.error_i18n["ja"]
    assert describe(job, "en")[0].startswith(f"{job.name}: failed · ")
    assert busy_with(runs) is None


def test_a_killed_merge_leaves_no_half_model(runs):
    runs, _ = runs
    job = start_job("merge", MergeParams("20260101-000000-one"), runs, "one")
    wait_state(job, {"running"})
    os.kill(refresh(job).pid, signal.SIGKILL)
    assert wait_state(job, {"failed"}).error.startswith("The job's process ended")
    assert not (runs / "20260101-000000-one" / "merged").exists()  # chat must not offer a half-written model


@pytest.mark.slow
def test_stop_ends_an_evaluation_as_stopped(runs):
    runs, probe = runs
    job = start_job("eval", EvalParams("20260101-000000-one", str(probe), 8), runs)
    wait_state(job, {"running"})
    request_stop(job)
    assert wait_state(job, {"stopped"}).state == "stopped"
    with pytest.raises(StudioError, match="is not running"):
        request_stop(job)


@pytest.mark.slow
def test_a_finished_merge_reports_its_verification(runs):
    runs, _ = runs
    job = start_job("merge", MergeParams("20260101-000000-one"), runs)
    wait_state(job, {"finished", "failed"}, timeout=180)
    line = describe(job, "ja")[0]
    assert ": 完了 · 100% · " in line and "検証済み" in line, line
    assert (runs / "20260101-000000-one" / "merged" / "config.json").exists()


def test_damaged_and_stale_job_folders_are_shown_not_raised(tmp_path):
    root = tmp_path / ".jobs"
    for name, content in (("20260101-000000-eval-a", "[1, 2]"), ("20260101-000001-merge-b", "{not json"),
                          ("20260101-000002-eval-c", '{"state": "running", "pid": "12"}')):
        (root / name).mkdir(parents=True)
        (root / name / STATUS).write_text(content, encoding="utf-8")
    jobs = {j.path.name: j for j in list_jobs(tmp_path)}
    assert {j.state for j in jobs.values()} == {"unknown"}
    assert "damaged or missing status file" in describe(jobs["20260101-000000-eval-a"].path, "en")[0]
    stale = root / "20260101-000003-eval-d"
    stale.mkdir()
    # our own pid is alive, but it started at another time: it is not the job's process any more
    write_status(stale, state="running", pid=os.getpid(), pid_start=(process_start(os.getpid()) or 0) + 1)
    assert refresh(stale).state == "failed"
    assert busy_with(tmp_path) is None


def test_a_worker_killed_from_outside_is_reaped_not_left_a_zombie(tmp_path):
    """Issue 26: the app never waited for its workers, so one killed with `kill` stayed <defunct> under it."""
    import os
    import signal
    import time

    from studio.jobs.launcher import spawn
    from studio.jobs.status import read_status
    folder = tmp_path / "job"
    folder.mkdir()
    pid = spawn(folder, ["_job", str(tmp_path / "no-such-job")])   # a real worker of the app's kind
    assert read_status(folder).pid == pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), open(f"/proc/{pid}/status").read()[:200]


def test_stop_while_a_job_loads_its_model_ends_it_within_a_poll(tmp_path, monkeypatch):
    """Issue 26: a merge, draft, evaluation or server loading a model is inside one long call with no report; a stop
    then ended only when the load was done (minutes for a 7B). Now the job ends within a poll, saying so."""
    import threading

    from studio.jobs import stopwatch
    from studio.jobs.folders import new_job_folder
    from studio.jobs.status import PARAMS, PROGRESS, STOP, read_status
    from studio.jobs.worker import run_job
    from studio.locale import T, loading
    folder = new_job_folder(tmp_path / "runs", "merge", "x").path
    (folder / PARAMS).write_text(json.dumps({"kind": "merge", "ref": "x", "runs_dir": str(tmp_path / "runs")}),
                                  encoding="utf-8")
    ended, seen = threading.Event(), {}

    def loading_task(params, runs_dir, say):
        say(0.02, loading("merge.p.loading"))
        (folder / STOP).write_text("stop requested\n")   # pressed while the base model loads
        seen["asked"] = time.time()
        ended.wait(30)                                    # the load: one call, no report
        say(0.4, None)   # (the real process is gone by now; here the next report sees the stop)
        return T("merge.p.loading")

    monkeypatch.setattr(stopwatch, "end_process", lambda: (seen.setdefault("ended", time.time()), ended.set()))
    run_job(folder, {"merge": loading_task})
    assert "ended" in seen and seen["ended"] - seen["asked"] < 3 * stopwatch.POLL_S + 1
    assert read_status(folder).state == "stopped"
    last = json.loads((folder / PROGRESS).read_text(encoding="utf-8").splitlines()[-1])["message"]
    assert "nothing was written" in last["en"] and "何も書き込んでいません" in last["ja"]


def test_after_its_next_report_a_job_is_stopped_at_reports_again_not_killed(tmp_path, monkeypatch):
    from studio.jobs import stopwatch
    from studio.jobs.folders import new_job_folder
    from studio.jobs.status import PARAMS, STOP, read_status
    from studio.jobs.worker import run_job
    from studio.locale import T
    folder = new_job_folder(tmp_path / "runs", "merge", "x").path
    (folder / PARAMS).write_text(json.dumps({"kind": "merge", "ref": "x", "runs_dir": str(tmp_path / "runs")}),
                                  encoding="utf-8")
    monkeypatch.setattr(stopwatch, "end_process", lambda: pytest.fail("a job writing its files was killed"))

    def writing_task(params, runs_dir, say):
        say(0.02, T("merge.p.loading"))
        say(0.75, T("merge.p.saving"))                   # writing now: a stop must wait for the next report
        (folder / STOP).write_text("stop requested\n")
        time.sleep(3 * stopwatch.POLL_S)
        say(0.9, None)
        return T("merge.p.saving")

    run_job(folder, {"merge": writing_task})
    assert read_status(folder).state == "stopped"


def test_a_task_says_when_it_loads_and_no_list_of_keys_is_kept():
    """Issue 33: the stop watch is armed by the message itself (locale.loading), not by a list of keys in the worker
    that a renamed key would silently fall out of."""
    import studio.jobs.worker as worker
    from studio.locale import T, loading
    said = loading("merge.p.loading")
    assert said.loading and said == T("merge.p.loading") and said.render("ja") == T("merge.p.loading").render("ja")
    assert not hasattr(worker, "LOADING")


def test_job_params_are_one_record_per_kind_and_refuse_unknown_fields(tmp_path):
    """Issue 33: params were dicts built in the UI and read by key in the tasks; a renamed key failed silently."""
    from studio.jobs.launcher import start_job
    from studio.jobs.params import DraftParams, from_file, to_file
    from studio.serve.drafting import DraftRequest
    assert from_file(to_file(EvalParams("r", None, 8, "parent"))) == EvalParams("r", None, 8, "parent")
    with pytest.raises(TypeError, match="no field max_tokens"):
        from_file({"kind": "eval", "ref": "r", "max_tokens": 8})
    with pytest.raises(TypeError):
        start_job("eval", MergeParams("r"), tmp_path / "runs")
    assert [f for f in DraftParams.__dataclass_fields__] == [f for f in DraftRequest.__dataclass_fields__]
