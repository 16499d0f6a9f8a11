"""A persona's rules: each a pure pass/fail on one reply; derived from the persona's own answers when it has none;
saved in persona.yaml and read back equal; the rule voter's pairs (ties give none, several rejected kept)."""
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.errors import StudioError
from studio.data.persona import Persona, QAPair
from studio.data.persona_store import load_persona, save_persona
from studio.data.rules import RULE_NAMES, PersonaRules, check, derive, pass_rates, rule_pairs

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "personas" / "ayano"
OJOU = PersonaRules(endings=["ですわ", "ですの", "かしら"], first_person="わたくし", min_chars=5, max_chars=30)


@pytest.mark.parametrize("reply,stopped,failed", [
    ("わたくし、紅茶が好きですわ。", True, set()),
    ("私はピアノが好きですの。", True, set()),                      # 私 is how わたくし is often written
    ("僕は紅茶が好きですわ。", True, {"first_person"}),
    ("紅茶が好きです。", True, {"endings"}),
    ("そうですわ。雨ですの。晴れかしら。", True, set()),
    ("ですわ。", True, {"length"}),
    ("わたくしはAIですわ。言語モデルですの。", True, {"never_say"}),
    ("As AN AI, I like tea.", True, {"endings", "language", "never_say"}),
    ("わたくし、紅茶が好きですわ。", False, {"stops"}),
    ("", True, {"endings", "length", "language"}),
])
def test_each_rule_passes_or_fails_one_reply(reply, stopped, failed):
    got = check(reply, stopped, OJOU)
    assert set(got) == set(RULE_NAMES)
    assert {r for r, ok in got.items() if not ok} == failed


def test_rules_switched_off_or_empty_are_not_checked():
    rules = PersonaRules(endings=[], first_person="", disabled=["stops", "never_say"])
    assert set(check("僕はAIです", False, rules)) == {"language"}
    assert pass_rates([], rules) == {"language": None}


def test_rules_derived_from_the_sample_personas_answers():
    p = load_persona(SAMPLE)
    assert p.rules is None
    rules = p.rules_of()
    assert rules.first_person == "わたくし" and {"ですわ", "ですの"} <= set(rules.endings)
    assert "わたくし" not in rules.endings and rules.language == "ja" and 0 < rules.min_chars < rules.max_chars
    rates = pass_rates([(a.answer, True) for a in p.pairs], rules)
    assert all(v >= 0.95 for v in rates.values()), rates
    english = derive(["I love tea.", "My cat is white and I am fond of her."], [])
    assert english.language == "en" and english.endings == [] and english.first_person == ""
    assert derive([], ["ですわ"]).active() == ("never_say", "stops")


def test_the_rule_voter_pairs_the_best_against_each_worse_reply():
    best = ("わたくし、紅茶が好きですわ。", True)
    pairs = rule_pairs([("僕は紅茶。", True), best, ("I like tea", False), ("僕は紅茶。", True), best], OJOU)
    assert pairs == [(best[0], "僕は紅茶。"), (best[0], "I like tea")]   # each worse reply once, several kept
    assert rule_pairs([best, ("私、紅茶が好きですの。", True)], OJOU) == []   # a tie teaches nothing
    assert rule_pairs([], OJOU) == []


rules_st = st.builds(PersonaRules, endings=st.lists(st.text(min_size=1).filter(str.strip), max_size=4),
                     first_person=st.text(max_size=6), min_chars=st.integers(0, 50), max_chars=st.integers(50, 400),
                     never_say=st.lists(st.text(min_size=1).filter(str.strip), max_size=4),
                     language=st.sampled_from(["ja", "en", ""]), disabled=st.lists(st.sampled_from(RULE_NAMES),
                                                                               unique=True))


@given(rules_st)
@settings(max_examples=60, deadline=None)
def test_rules_round_trip_through_persona_yaml(tmp_path_factory, rules):
    folder = tmp_path_factory.mktemp("p")
    save_persona(Persona(name="a", pairs=[QAPair("q", "ですわ")], rules=rules), folder)
    assert load_persona(folder).rules == rules


def test_a_persona_without_rules_writes_none_and_bad_rules_are_named(tmp_path):
    save_persona(Persona(name="a", pairs=[QAPair("q", "a")]), tmp_path)
    assert "\nrules:" not in (tmp_path / "persona.yaml").read_text(encoding="utf-8")
    for bad, field in (("rules: [1]", "rules"), ("rules: {endings: ですわ}", "rules.endings"),
                       ("rules: {min_chars: -1}", "rules.min_chars"), ("rules: {min_chars: 9, max_chars: 3}",
                                                                      "rules.min_chars"),
                       ("rules: {language: fr}", "rules.language"), ("rules: {disabled: [style]}", "rules.disabled"),
                       ("rules: {colour: red}", "rules.colour"), ("rules: {max_chars: true}", "rules.max_chars")):
        (tmp_path / "persona.yaml").write_text(f"name: a\n{bad}\n", encoding="utf-8")
        with pytest.raises(StudioError) as e:
            load_persona(tmp_path)
        assert field in e.value.render("en") and field in e.value.render("ja") and "persona.yaml" in e.value.render(
            "en")
