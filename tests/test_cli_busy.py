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
