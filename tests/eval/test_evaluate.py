"""Evaluation on a tiny run: results shape, resume after interruption, and bad inputs."""
import json

import pytest

pytest.importorskip("peft")

from studio.core.errors import StudioError  # noqa: E402
from studio.eval.evaluate import evaluate  # noqa: E402
from studio.eval.report import answers_csv, html_report, metric_rows  # noqa: E402
from studio.eval.results import saved_results  # noqa: E402
from studio.jobs.status import write_status  # noqa: E402
from studio.tiny import save_tiny_model  # noqa: E402
from tests.conftest import train_adapter  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    model = save_tiny_model(root / "base", "chatml")
    run = root / "runs" / "r1"
    run.mkdir(parents=True)
    train_adapter(root / "t", model, 1).rename(run / "adapter")
    write_status(run, state="finished", step=5, total=5)
    (root / "probe.txt").write_text("q1\nq2\nq3\n", encoding="utf-8")
    return run, root


def test_results_resume_and_reports(run):
    run_dir, root = run
    res = evaluate(run_dir, root / "probe.txt", max_new_tokens=4)
    for model in ("base", "tuned"):
        assert set(res.metrics(model)) >= {"style_rate", "stop_rate", "length_adherence", "knowledge_score",
                                    "general_ppl", "distinct_2"}
        assert res.metrics(model)["style_rate"] is None  # the test persona has no style markers: n/a, not 0
    assert [a.question for a in res.answers] == ["q1", "q2", "q3"]
    free = res.freeform   # the shipped free-form probe, asked through the chat template, scored per reply
    assert len(free) >= 40 and all(f.question and f.accepted for f in free)
    assert res.base["freeform_score"] == sum(f.base_ok for f in free) / len(free)
    assert res.forgetting == (res.freeform_drop > 0.10)
    assert len((run_dir / "eval" / "freeform-4.jsonl").read_text(encoding="utf-8").splitlines()) == 2 * len(free)
    cache = run_dir / "eval" / "answers-4.jsonl"
    lines = cache.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    cache.write_text("\n".join(lines[:4]) + '\n{"model": "tuned", "quest', encoding="utf-8")  # killed mid-write
    again = evaluate(run_dir, root / "probe.txt", max_new_tokens=4)
    assert [a.tuned for a in again.answers] == [a.tuned for a in res.answers]
    assert saved_results(run_dir.name, run_dir.parent) == again   # what the file holds is what was returned
    assert json.loads((run_dir / "eval" / "state.json").read_text())["complete"] is True
    assert metric_rows(res)[0][0] == "style-marker rate" and metric_rows(res)[0][1] == "n/a"
    assert "q1" in answers_csv(res) and "<h1>" in html_report(res, "t") and "<script" not in html_report(res, "t")


def test_bad_inputs(run, tmp_path):
    run_dir, root = run
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(StudioError, match="holds no questions"):
        evaluate(run_dir, tmp_path / "empty.txt")
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(StudioError, match="cannot find a question column"):
        evaluate(run_dir, tmp_path / "bad.csv")
    unfinished = root / "runs" / "r2"
    unfinished.mkdir()
    write_status(unfinished, state="failed", error="x")
    with pytest.raises(StudioError, match="no finished adapter"):
        evaluate(unfinished, root / "probe.txt")


def test_rate_bars_stand_side_by_side_not_stacked():
    """Each (metric, model) is its own category: a base of 0.25 is never stacked under (or hidden by) tuned."""
    from studio.eval.report import rate_bars
    from studio.eval.results import EvalResults
    res = EvalResults(base={"stop_rate": 0.25, "style_rate": 0.0}, tuned={"stop_rate": 0.97, "style_rate": 1.0})
    bars = rate_bars(res, ("style_rate", "stop_rate"), "en")
    assert [b["bar"] for b in bars] == ["style-marker rate · base", "style-marker rate · tuned", "stop rate · base",
                                        "stop rate · tuned"]
    assert len({b["bar"] for b in bars}) == len(bars) and max(b["value"] for b in bars) <= 1.0
    assert rate_bars(res, ("stop_rate",), "ja")[0]["bar"] == "停止率 · ベース"
