"""Issue 26, major 2: an export's verification shows each check's progress, bounds its stop check (an honest
"not checked" past the budget) and, stopped, keeps the written file as unverified instead of deleting it."""
import json
import time

import pytest

from studio.core.errors import Stopped
from studio.export import verify
from studio.export.export_run import export_run
from studio.jobs.launcher import STOP
from studio.jobs.status import PARAMS, read_status
from studio.jobs.worker import run_job
from tests.conftest import finished_run

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("export-stop"), "chatml")


def test_each_check_reports_its_progress(run, tmp_path):
    seen = []
    export_run(run.path, "f16", out=tmp_path / "out", progress=lambda f, m: seen.append((f, m)))
    keys = [m.key for _, m in seen if m is not None]
    for key in ("export.v.reading", "export.v.template", "export.v.loading", "export.v.logits", "export.v.stops"):
        assert key in keys
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # between two messages of the stop check the job gets a chance to stop at every generated token
    quiet = sum(1 for _, m in seen if m is None)
    assert quiet >= 3


def test_a_stop_check_past_its_budget_says_not_checked_and_still_publishes(run, tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "STOP_CHECK_SECONDS", 0.0)
    report = export_run(run.path, "f16", out=tmp_path / "out")
    last = next(c for c in report.checks if c.render("en").startswith("--  stops"))
    assert last.render("en").startswith("--  stops: not checked") and "0 s budget" in last.render("en")
    assert last.render("ja").startswith("--  停止: 未確認")
    assert report.gguf.is_file() and report.modelfile.is_file()


def test_stop_during_verification_keeps_the_file_unverified_within_a_token(run, tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    out = tmp_path / "out"
    (job / PARAMS).write_text(json.dumps({"kind": "export", "ref": "x", "runs_dir": str(tmp_path / "runs")}),
                               encoding="utf-8")
    asked = {}

    def task(params, runs_dir, say):
        def progress(fraction, message):
            if message is not None and message.key == "export.v.stops" and "at" not in asked:
                (job / STOP).touch()               # what Stop in the UI (or `studio stop`) does
                asked["at"], asked["calls"] = time.monotonic(), 0
            if "at" in asked:
                asked["calls"] += 1
            say(fraction, message)
        return export_run(run.path, "f16", out=out, progress=progress).summary_text()

    assert run_job(job, {"export": task}) == 0
    status = read_status(job)
    assert status.state == "stopped"
    assert asked["calls"] <= 2 and time.monotonic() - asked["at"] < 10   # honoured at the next token
    kept = out / "new-persona-f16.unverified.gguf"
    assert kept.is_file() and not (out / "new-persona-f16.gguf").exists() and not (out / "Modelfile").exists()
    assert str(kept) in status.message["en"] and "unverified" in status.message["en"]
    assert "未検証" in status.message["ja"]
    # a later export that completes replaces the stopped one's leftover
    export_run(run.path, "f16", out=out)
    assert (out / "new-persona-f16.gguf").is_file() and not kept.exists()


def test_a_stop_before_the_file_is_written_leaves_nothing(run, tmp_path):
    def stop_while_writing(fraction, message):
        if message is not None and message.key == "export.p.writing":
            raise Stopped
    with pytest.raises(Stopped):
        export_run(run.path, "f16", out=tmp_path / "out", progress=stop_while_writing)
    assert not list((tmp_path / "out").glob("*.gguf*"))
