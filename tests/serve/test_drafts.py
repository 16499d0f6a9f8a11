"""Draft with a model: candidates wait in drafts.jsonl, checked and sorted worst first; rejected ones never reach
the table, accepted ones are saved with the drafted mark; an interrupted draft keeps its batches and resumes."""
import pytest

from studio.core.errors import StudioError
from studio.data import drafts as dr
from studio.data.persona import OJOUSAMA_MARKERS, Persona, QAPair, StyleGuide
from studio.data.persona_store import load_persona, save_persona


@pytest.fixture
def folder(tmp_path):
    p = Persona(name="綾乃", system_prompt="お嬢様として答えて", style=StyleGuide(target_chars=16,
                markers=list(OJOUSAMA_MARKERS)), pairs=[QAPair("好きな飲み物は？", "紅茶が好きですわ。")])
    save_persona(p, tmp_path / "p")
    return tmp_path / "p"


def test_review_accepts_edits_and_rejects(folder):
    persona = load_persona(folder)
    dr.add_candidates(folder, [
        dr.Candidate("1", "趣味は？", "わたくし、ピアノを弾きますわ。", "default"),
        dr.Candidate("2", "好きな季節は？", "I like spring very much.", "default"),
        dr.Candidate("3", "好きな花は？", "薔薇ですわ。</s>", "default", stopped=False),
        dr.Candidate("4", "朝食は？", "紅茶が好きですわ。", "default"),
        dr.Candidate("5", "雨の日は何をしますか？", "雨の日は何をしますわ。お気ですわ。お気ですわ。", "default")])
    review = dr.review_list(dr.load_candidates(folder), persona)
    assert [c.id for c in review] == ["3", "5", "2", "4", "1"]        # worst first (3: cut, special token), then by id
    keys = {c.id: [p.key for p in c.problems] for c in review}
    assert keys["1"] == []
    assert keys["2"] == ["draft.p.not_japanese"]
    assert {"draft.p.cut", "draft.p.special"} <= set(keys["3"])
    assert keys["4"] == ["draft.p.copy"]
    assert keys["5"] == ["draft.p.repeats", "draft.p.echo"]
    cands = dr.load_candidates(folder)
    new = dr.accepted_pairs(cands, ["1", "4"], {"4": "朝はトーストをいただきますわ。"})
    dr.decide(folder, {"1": (dr.ACCEPTED, None), "4": (dr.ACCEPTED, new[1].answer), "2": (dr.REJECTED, None),
                       "3": (dr.REJECTED, None), "5": (dr.REJECTED, None)})
    persona.pairs += new
    save_persona(persona, folder)
    table = load_persona(folder).pairs
    assert [(p.question, p.drafted) for p in table] == [("好きな飲み物は？", ""), ("趣味は？", "default"),
                                                         ("朝食は？", "default, edited")]
    assert not any(p.question in ("好きな季節は？", "好きな花は？") for p in table)   # rejected: never in the table
    assert dr.review_list(dr.load_candidates(folder), load_persona(folder)) == []    # nothing left to review
    assert {c.id: c.status for c in dr.load_candidates(folder)} == {"1": "accepted", "2": "rejected",
                                                                     "3": "rejected", "4": "accepted",
                                                                     "5": "rejected"}


def test_a_torn_last_line_is_skipped(folder):
    dr.add_candidates(folder, [dr.Candidate("1", "q", "a", "m")])
    with open(folder / dr.DRAFTS_FILE, "a", encoding="utf-8") as f:
        f.write('{"id": "2", "quest')
    assert [c.id for c in dr.load_candidates(folder)] == ["1"]


torch = pytest.importorskip("torch")


def test_draft_job_writes_candidates_stops_and_resumes(folder, tmp_path, monkeypatch):
    from studio.core.errors import Stopped
    from studio.serve import drafting
    from studio.serve.drafting import DraftRequest, draft, parse_questions
    monkeypatch.setattr(drafting, "BATCH", 4)   # six questions: a batch of four, then two
    from studio.tiny import save_tiny_model
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    questions = [f"質問{i}ですか？" for i in range(6)]
    req = DraftRequest(data=str(folder), questions=questions, model=str(model), max_new_tokens=6)
    calls = []

    def stop_after_first_batch(fraction, message):
        calls.append(message)
        if message is not None and getattr(message, "key", "") == "draft.p.drafting" and message.params["done"] > 0:
            raise Stopped

    with pytest.raises(Stopped):
        draft(req, tmp_path / "runs", stop_after_first_batch)
    kept = dr.load_candidates(folder)
    assert [c.question for c in kept] == questions[:4] and all(c.model == str(model) for c in kept)
    summary = draft(req, tmp_path / "runs", lambda f, m: None)        # resumes: only the two left are drafted
    assert summary.params["n"] == 2 and summary.params["skipped"] == 4
    assert [c.question for c in dr.load_candidates(folder)] == questions
    assert load_persona(folder).pairs == [QAPair("好きな飲み物は？", "紅茶が好きですわ。")]   # the table is untouched
    with pytest.raises(StudioError):
        draft(DraftRequest(data=str(folder)), tmp_path / "runs", lambda f, m: None)
    proposed = "1. 趣味は？\n- 好きな花は？\n\n・朝食は？\n1. 趣味は？"
    assert parse_questions(proposed, 5) == ["趣味は？", "好きな花は？", "朝食は？"]


def test_cli_lists_accepts_and_rejects(folder, capsys):
    from studio.__main__ import main
    dr.add_candidates(folder, [dr.Candidate("1", "趣味は？", "わたくし、ピアノを弾きますわ。", "default"),
                               dr.Candidate("2", "好きな季節は？", "Spring.", "default")])
    assert main(["drafts", "--data", str(folder)]) == 0
    listed = capsys.readouterr().out
    assert listed.index("#2") < listed.index("#1") and "no Japanese" in listed
    assert main(["drafts", "--data", str(folder), "--accept", "7"]) == 2
    assert "No pending candidate has the id(s) 7" in capsys.readouterr().err
    assert main(["drafts", "--data", str(folder), "--accept", "1", "--reject", "2"]) == 0
    assert [(p.question, p.drafted) for p in load_persona(folder).pairs][1:] == [("趣味は？", "default")]
    assert main(["drafts", "--data", str(folder), "--json"]) == 0
    assert capsys.readouterr().out.strip().endswith("[]")
