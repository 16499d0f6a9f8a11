"""Issue 26: the CLI's foreground commands that load a model (serve, draft, merge, eval, export) are refused while
a run or job of the app holds the device, as the app refuses the same, naming what holds it; nothing is loaded."""
import os

import pytest

from studio.cli.main import main
from studio.jobs.folders import new_job_folder
from studio.jobs.status import State, pid_fields, write_status


@pytest.mark.parametrize("argv", [
    ["serve", "--model", "default"],
    ["draft", "--data", "data/personas/ayano", "--question", "好きな花は？"],
    ["merge", "--adapter", "nothing"],
    ["eval", "--run", "nothing"],
    ["export", "--run", "nothing"],
])
def test_foreground_commands_wait_for_the_device(tmp_path, capsys, argv):
    runs = tmp_path / "runs"
    job = new_job_folder(runs, "eval", "ayano").path
    write_status(job, state=State.RUNNING.value, kind="eval", **pid_fields(os.getpid()))   # alive: this process
    assert main([*argv, "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert f"error: {job.name} is using the" in err, err


def test_a_foreground_command_is_a_job_the_app_sees_both_ways(tmp_path):
    """Issue 33: `python -m studio merge` in a terminal registers a job folder (this process's pid), so the app's
    Train tab sees the device busy while it runs; its end is recorded like any job's."""
    from studio.core.errors import StudioError
    from studio.jobs.launcher import busy_with, foreground_job, list_jobs
    from studio.jobs.status import read_status
    from studio.train.config import TrainConfig
    from studio.train.launch import start_run
    runs = tmp_path / "runs"
    with foreground_job(runs, "merge", "ayano") as folder:
        assert busy_with(runs) == folder.name and read_status(folder).state == "running"
        with pytest.raises(StudioError) as e:
            start_run(TrainConfig(data="data/personas/ayano"), runs)
        assert e.value.key == "err.run_busy" and folder.name in e.value.render("en")
        assert [j.kind for j in list_jobs(runs)] == ["merge"]
    assert read_status(folder).state == "finished" and busy_with(runs) is None
    with pytest.raises(KeyboardInterrupt), foreground_job(runs, "eval") as stopped:
        raise KeyboardInterrupt
    assert read_status(stopped).state == "stopped"


def test_a_failed_foreground_merge_records_its_reason(tmp_path, capsys):
    from studio.jobs.launcher import list_jobs
    runs = tmp_path / "runs"
    assert main(["merge", "--adapter", "nothing", "--runs-dir", str(runs)]) == 2
    (job,) = list_jobs(runs)
    assert job.kind == "merge" and job.state == "failed" and "nothing" in (job.status.error or "")
