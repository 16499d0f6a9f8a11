"""The optional judge against a local stub endpoint (never a real service): both orders asked, a judge that follows
the order gives ties, kappa against the user's votes, and an endpoint that is down, slow, failing or answering
garbage ends the judging with its reason; the key is sent, and never written."""
import json
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from studio.core.errors import StudioError
from studio.eval.judge import Judge, judge_all, judge_run, kappa, summary, verdict
from tests.conftest import serving

KEY = "sk-test-0123456789abcdef"


def stub(mode: str, seen: list) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request):
        body = await request.json()
        seen.append(request.headers.get("authorization", ""))
        text = body["messages"][1]["content"]
        a = text.split("\n\nA: ", 1)[1].split("\n\nB: ")[0]
        if mode == "slow":
            time.sleep(1.5)
        if mode == "error":
            return JSONResponse({"error": "overloaded"}, status_code=500)
        if mode == "html":
            return PlainTextResponse("<html>login</html>")
        word = {"fair": "A" if "ですわ" in a else "B", "first": "A", "chatty": "Hmm, maybe"}[mode]
        return {"choices": [{"message": {"role": "assistant", "content": word}}]}
    return app


ANSWERS = [("q1", "はい。", "そうですわ。"), ("q2", "うん。", "ええ、好きですわ。"), ("q3", "ですわ。", "ない。")]


def test_kappa_and_verdicts():
    assert kappa(["A", "A", "B", "B"], ["A", "B", "B", "B"]) == pytest.approx(0.5)
    assert kappa(["A", "B"], ["A", "B"]) == 1.0 and kappa([], []) is None and kappa(["A", "A"], ["A", "A"]) is None
    assert kappa(["A", "B", "A", "B"], ["B", "A", "B", "A"]) == pytest.approx(-1.0)
    assert [verdict(t) for t in ("A", " b.", "TIE", "**A**", "maybe", "")] == ["A", "B", "tie", "A", None, None]


def test_a_fair_judge_in_both_orders_and_its_agreement_with_votes(monkeypatch):
    monkeypatch.setenv("STUDIO_JUDGE_KEY", KEY)
    seen: list = []
    votes = [{"prompt": "p", "answer_a": "ですわ。", "answer_b": "うん。", "vote": "A"},
             {"prompt": "p", "answer_a": "うん。", "answer_b": "ですわ。", "vote": "B"},
             {"prompt": "p", "answer_a": "うん。", "answer_b": "ですわ。", "vote": "A"}]
    with serving(stub("fair", seen)) as url:
        rep = judge_all(Judge(url + "/v1", "stub"), "rubric", ANSWERS, votes)
    assert (rep.n, rep.tuned_wins, rep.base_wins, rep.ties, rep.error) == (3, 2, 1, 0, "")
    assert rep.tuned_win_rate == pytest.approx(2 / 3) and rep.votes_judged == 3
    assert rep.kappa == pytest.approx(kappa(["A", "B", "B"], ["A", "B", "A"]))
    assert len(seen) == 12 and set(seen) == {f"Bearer {KEY}"}   # two orders a comparison, the key in the header
    assert KEY not in rep.to_json()


def test_a_judge_that_follows_the_order_gives_ties_and_garbage_is_counted(monkeypatch):
    with serving(stub("first", [])) as url:
        rep = judge_all(Judge(url + "/v1", "stub"), "r", ANSWERS, [])
    assert (rep.tuned_wins, rep.base_wins, rep.ties, rep.tuned_win_rate) == (0, 0, 3, 0.5)
    with serving(stub("chatty", [])) as url:
        rep = judge_all(Judge(url + "/v1", "stub"), "r", ANSWERS, [])
    assert rep.unparsed == 3 and rep.tuned_win_rate is None and rep.error == ""


@pytest.mark.parametrize("mode,said", [("error", "HTTP 500"), ("html", "OpenAI-compatible"),
                                       ("slow", "no answer within 0.5 s"), ("down", "cannot reach")])
def test_an_endpoint_down_slow_or_broken_ends_judging_with_its_reason(mode, said, monkeypatch):
    monkeypatch.setenv("STUDIO_JUDGE_KEY", KEY)
    if mode == "down":
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]   # closed again: nothing listens there
        rep = judge_all(Judge(f"http://127.0.0.1:{port}/v1", "stub", timeout_s=0.5), "r", ANSWERS, [])
    else:
        with serving(stub(mode, [])) as url:
            t0 = time.monotonic()
            rep = judge_all(Judge(url + "/v1", "stub", timeout_s=0.5), "r", ANSWERS, [])
            assert time.monotonic() - t0 < 5   # one bounded call, then it stops
    assert said in rep.error and rep.n == 0 and rep.tuned_win_rate is None   # stopped at the first call
    assert KEY not in rep.to_json() and KEY not in summary(rep, "ja")
    assert "途中で止まりました" in summary(rep, "ja")


def test_bad_settings_are_refused_naming_the_field():
    for judge, key in ((Judge("ftp://x", "m"), "err.judge.url"), (Judge("http://x", " "), "err.judge.model"),
                       (Judge("http://x", "m", key_env=KEY), "err.judge.key_env")):
        with pytest.raises(StudioError) as e:
            judge.check()
        assert e.value.key == key and KEY not in e.value.render("en")
    with pytest.raises(StudioError):
        judge_all(Judge("http://x", "m", key_env="sk live key"), "r", ANSWERS, [])


def test_judging_a_run_saves_beside_its_results_and_only_this_personas_votes(tmp_path, monkeypatch):
    from studio.data.persona_store import load_persona
    from studio.eval.results import Answered, EvalResults
    from tests.conftest import finished_run
    monkeypatch.setenv("STUDIO_JUDGE_KEY", KEY)
    run = finished_run(tmp_path)
    with pytest.raises(StudioError) as e:
        judge_run(run.id, Judge("http://127.0.0.1:9/v1", "m"), tmp_path / "runs")
    assert e.value.key == "err.judge.not_evaluated"
    run.eval.mkdir()
    run.results.write_text(EvalResults(answers=[Answered(q, "", b, t) for q, b, t in ANSWERS],
                                       complete=True).to_json(), encoding="utf-8")
    name = load_persona(run.data).name
    log = tmp_path / "votes.jsonl"
    side = {"persona": name, "template": "chatml"}
    rows = [{"kind": "pair", "model_a": "base", "model_b": "run:x", "vote": "B", "prompt": "p", "answer_a": "うん。",
             "answer_b": "ですわ。", "sides": [side, side]},
            {"kind": "pair", "model_a": "base", "model_b": "run:y", "vote": "A", "prompt": "p", "answer_a": "うん。",
             "answer_b": "ですわ。", "sides": [{"persona": "someone else"}] * 2},
            {"kind": "pair", "model_a": "run:x", "model_b": "run:x", "vote": "A", "prompt": "p",
             "answer_a": "うん。", "answer_b": "ですわ。", "sides": [side, side]}]   # a best-of pick: no model won
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with serving(stub("fair", [])) as url:
        rep = judge_run(run.id, Judge(url + "/v1", "stub"), tmp_path / "runs", log)
    assert rep.votes_judged == 1 and rep.tuned_wins == 2
    saved = run.judge_results.read_text(encoding="utf-8")
    assert json.loads(saved)["judge"] == {"url": url + "/v1", "model": "stub", "key_env": "STUDIO_JUDGE_KEY"}
    assert KEY not in saved


def test_eval_judge_only_on_the_command_line(tmp_path, monkeypatch):
    from studio.eval.results import Answered, EvalResults
    from tests.conftest import cli, finished_run
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    run = finished_run(tmp_path)
    run.eval.mkdir()
    run.results.write_text(EvalResults(answers=[Answered(q, "", b, t) for q, b, t in ANSWERS],
                                       complete=True).to_json(), encoding="utf-8")
    r = cli("eval", "--run", run.id, "--runs-dir", tmp_path / "runs", "--judge-only")
    assert r.returncode != 0 and "http(s) URL" in r.stdout + r.stderr
    with serving(stub("fair", [])) as url:
        r = cli("eval", "--run", run.id, "--runs-dir", tmp_path / "runs", "--judge", url + "/v1",
                "--judge-model", "stub", "--judge-only")
    assert r.returncode == 0 and "Judge stub: tuned preferred on 67% of 3 questions" in r.stdout, r.stdout + r.stderr
    r = cli("eval", "--run", run.id, "--runs-dir", tmp_path / "runs", "--judge", "http://127.0.0.1:9/v1",
            "--judge-model", "stub", "--judge-only", "--judge-timeout", "0.5")
    assert r.returncode == 0 and "Judging stopped early: cannot reach" in r.stdout   # the evaluation's numbers stand


def test_evaluate_tab_judge_params_refuse_before_a_job_starts(tmp_path, monkeypatch):
    from studio.ui.eval_tab import judge_params
    from tests.conftest import finished_run
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    run = finished_run(tmp_path)
    with pytest.raises(StudioError) as e:
        judge_params(run.id, "http://127.0.0.1:8000/v1", "m", KEY)   # the key pasted where its variable goes
    assert "環境変数" in e.value.render("ja") and KEY not in e.value.render("ja")
    with pytest.raises(StudioError):
        judge_params("../elsewhere", "http://127.0.0.1:8000/v1", "m", "STUDIO_JUDGE_KEY")
    p, label = judge_params(run.id, " http://127.0.0.1:8000/v1 ", "m", "STUDIO_JUDGE_KEY")
    assert (p.ref, p.judge_url, p.dialogs) == (run.id, "http://127.0.0.1:8000/v1", None) and label.startswith("judge")
