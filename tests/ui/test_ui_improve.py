"""The Train tab's Improve panel: its handlers (refusals in the reader's language, the estimate, the rounds table),
and through the app (gradio_client) a round started, followed to its end and recorded, then a second start that
continues from the last kept round and is stopped."""
import json
import time

import pytest

from studio.core.errors import StudioError
from studio.jobs.folders import JobFolder
from studio.ui.improve_panel import estimate, improve_params, rounds_frame
from tests.conftest import finished_run, launch_app


@pytest.fixture
def runs(tmp_path, monkeypatch):
    parent = finished_run(tmp_path)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    return parent, tmp_path


def test_refusals_name_what_to_fix_in_the_readers_language(runs):
    parent, _ = runs
    with pytest.raises(StudioError) as e:
        improve_params("", 1, 4, 24, False, 0)
    assert "完了済みの実行" in e.value.render("ja")
    with pytest.raises(StudioError) as e:
        improve_params(parent.id, 1, 1, 24, False, 0)   # one reply a question: the rules have nothing to compare
    assert "2〜16" in e.value.render("ja") and "2 to 16" in e.value.render("en")
    with pytest.raises(StudioError):
        improve_params("../../etc", 1, 4, 24, False, 0)
    assert "2 to 16" in estimate(parent.id, 1, 40, 24, 0, "en")   # said before Start, not a traceback


def test_params_votes_and_estimate(runs):
    parent, tmp = runs
    p, label = improve_params(parent.id, 2, 4, 10, True, 0)
    assert (p.ref, p.rounds, p.samples, p.general, p.max_steps, p.votes) == (parent.id, 2, 4, 10, None, "")
    (tmp / "ws").mkdir(exist_ok=True)
    (tmp / "ws" / "votes.jsonl").write_text("", encoding="utf-8")
    assert improve_params(parent.id, 1, 4, 10, True, 3)[0].votes.endswith("votes.jsonl")
    line = estimate(parent.id, 2, 4, 10, 0, "ja")
    assert "2 コア CPU" in line and "返答 72 件" in line   # (8 persona questions + 10 general) x 4 replies
    assert "Pick a finished run" in estimate(None, 1, 4, 10, 0, "en")


def test_rounds_table_reads_the_jobs_rounds(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    JobFolder(job).rounds.write_text(json.dumps([
        {"index": 1, "parent": "sft", "child": "r1", "pairs": 30, "from_votes": 2, "kept": True, "failed": []},
        {"index": 2, "parent": "r1", "child": "r2", "pairs": 20, "from_votes": 0, "kept": False,
         "failed": ["stop: child 0.50 vs parent 0.90"]},
        {"index": 3, "parent": "r1", "child": "", "pairs": 0, "from_votes": 0, "kept": False, "failed": []}]),
        encoding="utf-8")
    frame = rounds_frame(str(job), "ja")
    assert list(frame.columns)[:3] == ["ラウンド", "元の実行", "新しい実行"]
    assert frame.values.tolist() == [[1, "sft", "r1", 30, 2, "✓", ""],
                                     [2, "r1", "r2", 20, 0, "✗", "stop: child 0.50 vs parent 0.90"],
                                     [3, "r1", "-", 0, 0, "…", ""]]
    (JobFolder(job).rounds).write_text("{not json", encoding="utf-8")
    assert rounds_frame(str(job), "en").empty and rounds_frame(None, "en").empty


def follow(c, done, timeout: float = 600) -> tuple[str, dict]:
    """The panel's line and rounds table, polled until `done(line, table)` or the timeout."""
    deadline = time.time() + timeout
    while True:
        line, _bar, table = c.predict(api_name="/improve_progress")
        if done(line, table) or time.time() > deadline:
            return line, table
        time.sleep(0.5)


@pytest.mark.slow   # launches the app; the job samples, trains one DPO step and evaluates on a tiny model
def test_a_round_through_the_app_then_a_continued_one_stopped(runs):
    from gradio_client import Client

    from studio.jobs.folders import Run
    from studio.train.improve import read_record
    parent, tmp = runs
    config = parent.config.read_text(encoding="utf-8").replace("max_length: 64", "max_length: 256")
    parent.config.write_text(config, encoding="utf-8")   # room for a pair of 64-token replies
    (tmp / "ws").mkdir()
    (tmp / "ws" / "votes.jsonl").write_text("".join(json.dumps(
        {"prompt": f"v{i}", "chosen": "ですわ。", "rejected": "はい。"}, ensure_ascii=False) + "\n" for i in range(8)),
        encoding="utf-8")   # a tiny model's random replies are rarely told apart by the rules: the votes make pairs
    demo, url = launch_app()
    try:
        c = Client(url, verbose=False)
        assert "Pick a finished run" in c.predict("", 1, 4, 24, False, 0, api_name="/improve")
        started = c.predict(parent.id, 1, 2, 2, True, 1, api_name="/improve")
        assert started.startswith("Started "), started
        line, table = follow(c, lambda line, table: any(s in line for s in (": finished", ": failed", ": stopped")))
        assert ": finished" in line, line
        row = table["data"][0]
        assert row[0] == 1 and row[1] == parent.id and row[2] != "-" and row[5] in ("✓", "✗")
        record = read_record(Run(tmp / "runs" / row[2]))
        assert record["parent"] == parent.id and record["kept"] == (row[5] == "✓")
        continued_from = row[2] if record["kept"] else parent.id
        started = c.predict(parent.id, 1, 2, 2, True, 1, api_name="/improve")
        assert started.startswith("Started "), started
        line, table = follow(c, lambda line, table: continued_from in line or table["data"], 60)   # where it goes on
        assert c.predict(api_name="/improve_stop").startswith("Stop requested") or "stopped" in line
        line, table = follow(c, lambda line, table: any(s in line for s in (": finished", ": failed", ": stopped")))
        assert ": stopped" in line, line
        rows = table["data"]
        assert not rows or rows[0][1] == continued_from
    finally:
        demo.close()
