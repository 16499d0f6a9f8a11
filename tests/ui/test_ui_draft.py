"""The Persona tab's "Draft with a model" through gradio_client: a run's adapter drafts answers in a background
job; a reviewer accepts one (edited) and rejects the other; only the accepted one reaches the table, marked."""
import pytest

from tests.conftest import finished_run, launch_app

pytest.importorskip("peft")
from gradio_client import Client  # noqa: E402

from studio.data import drafts as dr  # noqa: E402
from studio.data.persona_store import load_persona  # noqa: E402
from tests.ui.test_ui_chat_merge import wait_job  # noqa: E402

pytestmark = pytest.mark.slow  # launches the app and runs real jobs: the whole suite runs it


@pytest.fixture
def app(tmp_path, monkeypatch):
    run = finished_run(tmp_path)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(run.path.parent))
    demo, url = launch_app()
    yield url, run, tmp_path / "ws"
    demo.close()


def test_draft_review_accept_and_reject(app):
    url, run, ws = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    refused = c.predict(run.id, "", None, "", 5, 2, 12, api_name="/draft")
    assert "No questions to draft" in str(refused)
    started = c.predict(run.id, "雨の日は何をしますか？\n好きな宝石は？", None, "", 5, 2, 12, api_name="/draft")
    assert "Started " in str(started)
    line, _bar, review = wait_job(c, "/draft_progress")
    assert ": finished ·" in line and "Drafted 2 candidates with " + run.id in line, line
    rows = review["data"]
    assert sorted(r[2] for r in rows) == sorted(["雨の日は何をしますか？", "好きな宝石は？"])
    # tick one, edit its answer; the other stays unticked
    for r in rows:
        r[1] = r[2] == "好きな宝石は？"
        if r[1]:
            r[3] = "真珠が好きですわ。"
    message, review, table, _, _, stats, _ = c.predict({"headers": review["headers"], "data": rows}, "",
                                                       "answer length", api_name="/draft_accept")
    assert "Added 1 rows" in message and [r[2] for r in review["data"]] == ["雨の日は何をしますか？"]
    accepted = next(r for r in table["data"] if r[1] == "好きな宝石は？")
    assert accepted[1:] == ["好きな宝石は？", "真珠が好きですわ。", "", "", f"{run.id}, edited"]
    # issue 26: the Persona tab keeps the reader's sort, and its statistics count the accepted row (they said 143)
    assert [len(r[2]) for r in table["data"]] == sorted(len(r[2]) for r in table["data"])
    assert stats.startswith("rows: 144 ·"), stats
    rows = review["data"]
    rows[0][1] = True
    message, review, *_ = c.predict({"headers": review["headers"], "data": rows}, api_name="/draft_reject")
    assert "Rejected 1" in message and review["data"] == []
    pairs = load_persona(ws / "personas" / "ayano").pairs
    assert pairs[-1].question == "好きな宝石は？" and pairs[-1].drafted == f"{run.id}, edited"
    assert not any(p.question == "雨の日は何をしますか？" for p in pairs)
    statuses = {c.question: c.status for c in dr.load_candidates(ws / "personas" / "ayano")}
    assert statuses == {"好きな宝石は？": "accepted", "雨の日は何をしますか？": "rejected"}
    nothing = c.predict({"headers": review["headers"], "data": []}, api_name="/draft_accept")
    assert "Tick at least one" in nothing[0]
