"""Improvement rounds: prompts, pairs (the user's votes win on their prompts), the guards that refuse a child, and one
whole round on a tiny model (sample, pair, DPO child with its lineage, evaluation against the parent)."""
import json

import pytest

from studio.core.errors import StudioError
from studio.data.preferences import Preference
from studio.data.rules import PersonaRules
from studio.eval.results import Answered, EvalResults
from studio.train.improve import (
    ImproveSettings,
    build_pairs,
    guards,
    last_kept,
    markers_per_sentence,
    preflight,
    prompts_for,
)

RULES = PersonaRules(endings=["ですわ", "ですの"], first_person="わたくし", min_chars=4, max_chars=40)
GOOD, BAD = "わたくし、紅茶が好きですわ。", "僕は紅茶。"


def test_prompts_are_the_personas_and_a_fresh_draw_from_the_pool():
    pool = [f"g{i}" for i in range(50)]
    one, two = prompts_for(["a", "b", "a", " "], pool, 5, 1), prompts_for(["a", "b"], pool, 5, 2)
    assert one[:2] == ["a", "b"] and len(one) == 7 and len(set(one)) == 7
    assert one[2:] != two[2:]   # each round draws again
    assert prompts_for(["a"], pool, 0, 1) == ["a"]


def test_pairs_from_the_rules_and_votes_that_win_on_their_prompt():
    cands = {"q1": [(BAD, True), (GOOD, True), ("  ", True)], "q2": [(GOOD, True), (BAD, False)],
             "q3": [(GOOD, True)] * 2, "q4": [("", False), ("", True)]}   # empty replies make no pair
    votes = [Preference("q2", chosen="human choice", rejected=GOOD, source="vote 1"),
             Preference("q9", completion="x", label=True)]
    pairs = build_pairs(cands, RULES, votes)
    assert [(p.prompt, p.chosen, p.rejected, p.source) for p in pairs] == [
        ("q2", "human choice", GOOD, "vote 1"), ("q1", GOOD, BAD, "rules")]   # q2: the vote; q3: a tie, no pair


def results(parent: list[str], child: list[str], **metrics) -> EvalResults:
    base = {"stop_rate": 1.0, "distinct_2": 0.8, "system_overlap": 0.0, "freeform_score": 0.5}
    tuned = {**base, **metrics}
    return EvalResults(base=base, tuned=tuned, answers=[Answered(f"q{i}", "", b, t, True, True)
                                                        for i, (b, t) in enumerate(zip(parent, child))])


def test_guards_name_what_got_worse():
    same = results([GOOD] * 4, [GOOD] * 4)
    assert guards(same, RULES, 0.5) == []
    assert guards(results([GOOD] * 4, [BAD] * 4), RULES, 0.5)[0].startswith("rules: child 0.00 vs parent 1.00")
    assert [g.split(":")[0] for g in guards(results([GOOD] * 4, [GOOD] * 4, stop_rate=0.5, distinct_2=0.1,
                                                    system_overlap=0.4, freeform_score=0.3), RULES, 0.5)] == [
        "stop", "distinct-2", "system prompt copied", "free-form knowledge"]
    spam = "ですわですわですの。ですわですわ。"
    assert markers_per_sentence([spam], RULES) == 2.5
    assert any(g.startswith("marker spam") for g in guards(results([GOOD] * 4, [spam] * 4), RULES, None))
    long = "わたくし" + "ですわ" * 20 + "。"
    assert any(g.startswith("length") for g in guards(results([GOOD] * 4, [long] * 4), RULES, None))


def test_rules_that_cannot_guide_a_round_are_refused_before_sampling():
    with pytest.raises(StudioError) as e:
        preflight(PersonaRules(never_say=[], language="", disabled=["stops"]), [GOOD])
    assert e.value.key == "err.improve.no_rules"
    with pytest.raises(StudioError) as e:   # no answer of the persona's own ends on these
        preflight(PersonaRules(endings=["でござる"]), [GOOD, "ごきげんよう、ですの。"])
    assert "sentence endings" in e.value.render("en")
    preflight(RULES, [GOOD, "わたくしも参りますわ。"])   # kept by the persona's answers: no refusal
    for bad in (ImproveSettings(samples=1), ImproveSettings(rounds=0), ImproveSettings(general=-1),
                ImproveSettings(max_steps=0)):
        with pytest.raises(StudioError):
            bad.check()


def test_a_new_start_continues_from_the_latest_kept_round(tmp_path):
    from studio.jobs.folders import Run
    from studio.jobs.status import write_status
    runs = tmp_path / "runs"

    def run(name: str, parent: str = "", kept: bool | None = None) -> Run:
        r = Run(runs / name)
        r.path.mkdir(parents=True)
        write_status(r.path, state="finished")
        if kept is not None:
            r.improvement.write_text(json.dumps({"round": 1, "parent": parent, "kept": kept}), encoding="utf-8")
        return r
    sft = run("20260101-000000-a")
    assert last_kept(sft, runs).id == sft.id
    run("20260101-000001-a", sft.id, kept=True)
    run("20260101-000002-a", "20260101-000001-a", kept=True)
    run("20260101-000003-a", "20260101-000002-a", kept=False)   # refused by a guard: not continued from
    run("20260101-000004-a", "20260101-000002-a")                # stopped before its evaluation: no record
    assert last_kept(sft, runs).id == "20260101-000002-a"


@pytest.mark.slow
def test_one_round_on_a_tiny_model(tmp_path):
    from studio.jobs.folders import Run
    from studio.jobs.runs import list_runs
    from studio.train.improve import ImproveSettings, improve
    from tests.conftest import finished_run
    parent = finished_run(tmp_path)
    (parent.data / "probe.txt").write_text("q1\nq2\n", encoding="utf-8")
    votes = tmp_path / "votes.jsonl"
    votes.write_text("".join(json.dumps({"prompt": f"v{i}", "chosen": "ですわ。", "rejected": "はい。"},
                                        ensure_ascii=False) + "\n" for i in range(8)), encoding="utf-8")
    said = []
    rounds = improve(parent.id, tmp_path / "runs", ImproveSettings(rounds=1, samples=2, general=2, max_steps=1,
                                                                   max_new_tokens=4, votes=str(votes)),
                     lambda f, m: said.append(str(m)))
    r = rounds[0]
    assert r.parent == parent.id and r.child and r.pairs >= 8 and r.from_votes == 8
    assert r.kept == (not r.failed) and all(":" in f for f in r.failed)
    child = Run(tmp_path / "runs" / r.child)
    assert child.settings()["parent_run"] == parent.id and child.settings()["method"] == "dpo"
    assert child.results_parent.exists()   # evaluated against its parent
    assert any("sampling" in s for s in said) and any("evaluating" in s for s in said)
    jobs = [i for i in list_runs(tmp_path / "runs")]
    assert {i.path.name for i in jobs} >= {parent.id, r.child}
