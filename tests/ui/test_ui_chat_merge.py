"""The Chat and Merge tabs through gradio_client, on a tiny model with a run trained in the test."""
import time

import pytest

from tests.conftest import launch_app

pytest.importorskip("peft")
from gradio_client import Client  # noqa: E402

from studio.core.errors import StudioError  # noqa: E402
from studio.jobs.status import write_status  # noqa: E402
from studio.tiny import save_tiny_model  # noqa: E402
from tests.conftest import train_adapter  # noqa: E402

pytestmark = pytest.mark.slow  # launches the app and runs real jobs: the whole suite runs it


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    model = save_tiny_model(root / "base", "chatml")
    runs = root / "runs"
    for name, seed in (("20260101-000000-one", 1), ("20260101-000001-two", 2)):
        (runs / name).mkdir(parents=True)
        adapter = train_adapter(root / name, model, seed)
        adapter.rename(runs / name / "adapter")
        write_status(runs / name, state="finished", step=5, total=5)
    mp = pytest.MonkeyPatch()
    mp.setenv("STUDIO_HOME", str(root / "ws"))
    mp.setenv("STUDIO_RUNS_DIR", str(runs))
    demo, url = launch_app()
    yield url, runs
    demo.close()
    mp.undo()


SETTINGS = [0.0, 1.0, 0, 1.0, 6, 0]  # temperature, top_p, top_k, repetition_penalty, max_new_tokens, seed


def test_side_by_side_chat_blind_vote_and_export(app):
    url, runs = app
    c = Client(url, verbose=False)
    left, right = c.predict(api_name="/chat_models")
    assert left["value"] == "base" and right["value"] == "run:20260101-000001-two"
    a, b, msg, status, *_ = c.predict("ごきげんよう", "base", "run:20260101-000001-two", False, *SETTINGS,
                                   api_name="/chat_send")
    text = lambda pane, i: pane["value"][i]["content"][0]["text"]  # noqa: E731
    assert text(a, 0) == text(b, 0) == "ごきげんよう" and a["label"] == "A: base"
    assert a["value"][1]["role"] == b["value"][1]["role"] == "assistant"
    assert "[cut: max new tokens]" in text(a, 1)  # 6 new tokens from a random base never reach its end
    empty = c.predict("   ", "base", "run:20260101-000001-two", False, *SETTINGS, api_name="/chat_send")
    assert "Type a message" in empty[3]
    c.predict("base", "run:20260101-000001-two", True, api_name="/chat_clear")
    c.predict("こんにちは", "base", "run:20260101-000001-two", True, *SETTINGS, api_name="/chat_send")
    voted = c.predict(*SETTINGS, api_name="/vote_A")
    assert "Vote saved: A" in voted[2] and "base" in voted[2] and voted[3]["data"][0][2] == 1
    path, status = c.predict(api_name="/export_votes")
    assert "Exported 1 preference pairs" in status and '"chosen"' in open(path, encoding="utf-8").read()


def test_blind_mode_hides_the_models_and_shuffles_every_comparison(app):
    """Blind means blind: the pickers are hidden until the vote, and each comparison draws its sides anew."""
    url, runs = app
    c = Client(url, verbose=False)
    tuned = "run:20260101-000001-two"
    left, right, note = c.predict(True, api_name="/chat_blind")
    assert left["visible"] is False and right["visible"] is False and note["visible"] is True
    one_token = [0.0, 1.0, 0, 1.0, 1, 0]
    sides = []
    for _ in range(16):
        out = c.predict("こんにちは", "base", tuned, True, *one_token, api_name="/chat_send")
        assert out[0]["label"] == "A" and out[1]["label"] == "B"  # names hidden in the panes too
        assert out[4]["visible"] is False and out[5]["visible"] is False  # and the pickers stay hidden
        voted = c.predict(*one_token, api_name="/vote_tie")
        assert voted[4]["visible"] is True  # revealed by the vote
        sides.append(voted[2].split("A was ")[1].split(",")[0])
    assert set(sides) == {"base", tuned}, sides  # both orders seen (chance of failing if fixed: 2 in 65536)


def wait_job(client, api: str, timeout: float = 180) -> list:
    """Poll a tab's job progress until the job ends; returns the last outputs."""
    deadline = time.time() + timeout
    while True:
        out = client.predict(api_name=api)
        line = out if isinstance(out, str) else out[0]
        if any(f": {s} ·" in line for s in ("finished", "failed", "stopped")) or time.time() > deadline:
            return [out] if isinstance(out, str) else list(out)
        time.sleep(0.5)


def test_merge_and_combine_tabs(app):
    url, runs = app
    c = Client(url, verbose=False)
    started = c.predict("20260101-000000-one", False, "", api_name="/merge")
    assert started.startswith("Started ") and "merge" in started
    line = wait_job(c, "/merge_progress")[0]
    assert ": finished · 100% · Merged into" in line and "Verified" in line, line
    assert (runs / "20260101-000000-one" / "merged" / "config.json").exists()
    c.predict("20260101-000000-one", False, "", api_name="/merge")
    again = wait_job(c, "/merge_progress")[0]
    assert ": failed" in again and "already exists" in again
    c.predict(["20260101-000000-one", "20260101-000001-two"], "0.5, 0.5", "linear", 0.5, api_name="/combine")
    assert "Combined 2 adapters" in wait_job(c, "/merge_progress")[0]
    bad = c.predict(["20260101-000000-one"], "x", "linear", 0.5, api_name="/combine")
    assert bad.startswith("Weights must be numbers")
    left, right = c.predict(api_name="/chat_models")
    assert "merged:20260101-000000-one" in [x[0] if isinstance(x, list) else x for x in right["choices"]]


def test_export_section_runs_a_verified_export_job(app):
    url, runs = app
    c = Client(url, verbose=False)
    started = c.predict("20260101-000001-two", "q8_0", "", api_name="/export")
    assert started.startswith("Started ") and "export" in started
    line = wait_job(c, "/merge_progress")[0]
    assert ": finished · 100% · Exported" in line and "ok  logits" in line, line
    assert list((runs / "20260101-000001-two" / "export").glob("*-q8_0.gguf"))
    assert (runs / "20260101-000001-two" / "export" / "Modelfile").exists()
    bad = c.predict("", "q8_0", "", api_name="/export")
    assert not bad.startswith("Started ")
    assert c.predict("no-such-run", "q8_0", "", api_name="/export").startswith("No run or model folder")


def test_serve_section_starts_and_stops_the_api_as_a_job(app):
    import socket

    import openai
    url, runs = app
    c = Client(url, verbose=False)
    assert c.predict(["20260101-000000-one"], 80, "", False, api_name="/serve").startswith("The port must be")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = c.predict(["20260101-000000-one"], port, "k", False, api_name="/serve")
    assert started.startswith("Started ") and "serve" in started
    deadline = time.time() + 120
    while "serving the OpenAI-compatible API" not in (line := _serve_line(c)):
        assert time.time() < deadline and ": failed" not in line, line
        time.sleep(0.5)
    assert f"http://127.0.0.1:{port}/v1" in line and "20260101-000000-one" in line
    api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=60)
    reply = api.chat.completions.create(model="20260101-000000-one", max_tokens=8, temperature=0,
                                        messages=[{"role": "user", "content": "ごきげんよう。"}])
    assert reply.choices[0].message.content is not None
    refused = c.predict("20260101-000000-one", False, "", api_name="/merge")  # one GPU: a merge waits
    assert not refused.startswith("Started ") and "serve" in refused, refused
    c.predict(api_name="/serve_stop")
    deadline = time.time() + 60
    while ": stopped" not in (line := _serve_line(c)):
        assert time.time() < deadline, line
        time.sleep(0.5)


def _serve_line(c) -> str:
    from studio.core.workspace import runs_dir
    from studio.jobs.launcher import describe, list_jobs
    jobs = list_jobs(runs_dir(), ("serve",))
    return describe(jobs[0].path, "en")[0] if jobs else ""


def test_evaluate_tab(app, tmp_path):
    url, runs = app
    c = Client(url, verbose=False)
    probe = tmp_path / "probe.txt"
    probe.write_text("q1\nq2\n", encoding="utf-8")
    from gradio_client import handle_file
    started = c.predict("20260101-000001-two", handle_file(str(probe)), 4, api_name="/evaluate")
    assert started.startswith("Started ")
    line, _bar, status, table, _bars, answers, freeform = wait_job(c, "/eval_progress")
    assert ": finished" in line and status.startswith("Evaluated 2 probe questions"), (line, status)
    metrics = {row[0]: row[1:] for row in table["data"]}
    assert "stop rate" in metrics and metrics["style-marker rate"] == ["n/a", "n/a"]
    assert [row[0] for row in answers["data"]] == ["q1", "q2"]
    assert len(freeform["data"]) >= 40 and freeform["data"][0][1] == "Paris|パリ"
    assert freeform["data"][0][2][:2] in ("✓ ", "✗ ") and "free-form knowledge" in metrics
    html = c.predict("20260101-000001-two", api_name="/export_eval_html")
    assert "<table>" in open(html, encoding="utf-8").read()
    victim = runs.parent / "victim"   # a run reference that leaves the runs folder is no run
    (victim / "eval").mkdir(parents=True)
    (victim / "eval" / "results.json").write_text((runs / "20260101-000001-two" / "eval" / "results.json").read_text())
    assert c.predict("../victim", api_name="/export_eval_csv") is None
    missing = c.predict("", None, 4, api_name="/evaluate")
    assert "Pick a finished run" in missing


def test_best_of_three_pick_is_recorded_against_each_other_candidate(app):
    from studio.data.preferences import from_votes
    from studio.serve.votes import read_votes, win_rates
    url, runs = app
    c = Client(url, verbose=False)
    tuned = "run:20260101-000000-one"
    c.predict("base", tuned, False, api_name="/chat_clear")
    radio, status = c.predict(*SETTINGS, api_name="/chat_candidates_b")
    assert "Chat first" in status   # nothing said yet: nothing to offer candidates for
    c.predict("紅茶はお好き？", "base", tuned, False, *SETTINGS, api_name="/chat_send")
    before = len(read_votes(runs.parent / "ws" / "votes.jsonl"))
    hot = [1.5, 1.0, 0, 1.0, 8, 3]
    radio, status = c.predict(*hot, api_name="/chat_candidates_b")
    assert "different candidates for B" in status, status
    choices = [label for label, _ in radio["choices"]]
    assert len(choices) >= 2 and choices[0].startswith("1. ")
    a, b, status, _ = c.predict(1, *hot, api_name="/chat_keep_candidate")
    assert status.startswith("Kept candidate 2: recorded as better than"), status
    kept = choices[1][3:]
    assert b["value"][-1]["content"][0]["text"] == kept   # the conversation goes on from the pick
    votes = read_votes(runs.parent / "ws" / "votes.jsonl")[before:]
    assert len(votes) == len(choices) - 1
    assert all(v["model_a"] == v["model_b"] == tuned and v["answer_a"] == kept and v["vote"] == "A"
               and v["sides"][0]["template"] for v in votes)
    assert {v["answer_b"] for v in votes} == {t[3:] for t in choices if t[3:] != kept}
    assert all(p.chosen == kept for p in from_votes(votes))   # what a DPO run on the votes learns
    assert not any(r["model_x"] == r["model_y"] for r in win_rates(read_votes(runs.parent / "ws" / "votes.jsonl")))
    from studio.serve.chat_session import ChatSession
    with pytest.raises(StudioError) as e:   # nothing offered (or picked already): nothing is recorded
        ChatSession(str(runs)).pick(0, [])
    assert e.value.key == "chat.candidates_first"
