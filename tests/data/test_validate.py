"""Validation names rows; errors vs warnings; stats."""
from studio.core.findings import has_errors
from studio.data.persona import Persona, QAPair, StyleGuide
from studio.data.persona_store import load_persona
from studio.data.stats import length_histogram, persona_stats
from studio.data.validate import validate_persona


def codes(persona):
    return {f.code: f for f in validate_persona(persona)}


def test_sample_persona_is_clean_and_large_enough(sample_dir):
    persona = load_persona(sample_dir)
    assert len(persona.pairs) >= 120
    assert validate_persona(persona) == []
    probes = [l for l in (sample_dir / "probe.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    assert len(probes) >= 30
    assert not set(probes) & {p.question for p in persona.pairs}, "probe questions must be held out"


def test_empty_cells_name_the_row():
    f = codes(Persona(pairs=[QAPair("q", "a")] * 6 + [QAPair("q7", "  ")]))
    assert f["EMPTY_ANSWER"].message == "row 7: answer is empty."
    assert f["EMPTY_ANSWER"].severity == "error" and f["EMPTY_ANSWER"].rows == [7]


def test_literal_special_tokens_are_errors():
    f = codes(Persona(pairs=[QAPair("hi", "ごきげんよう</s>"), QAPair("[INST] x", "y"), QAPair("a", "b<|eot_id|>")]))
    msgs = " ".join(x.message for x in validate_persona(Persona(pairs=[QAPair("hi", "ごきげんよう</s>")])))
    assert "'</s>'" in msgs and "row 1" in msgs
    assert f["SPECIAL_TOKEN_TEXT"].severity == "error"
    assert sorted(r for x in validate_persona(Persona(pairs=[QAPair("hi", "x</s>"), QAPair("[INST] x", "y"),
                                                         QAPair("a", "b<|eot_id|>")])) for r in x.rows) == [1, 2, 3]


def test_duplicates_and_length_are_warnings():
    pairs = [QAPair("q", "a"), QAPair("x", "y" * 61), QAPair("q", "a")]
    f = codes(Persona(style=StyleGuide(target_chars=30), pairs=pairs))
    assert f["DUPLICATE"].rows == [1, 3] and f["DUPLICATE"].severity == "warning"
    assert f["ANSWER_TOO_LONG"].rows == [2] and "longest: 61" in f["ANSWER_TOO_LONG"].message
    assert not has_errors(validate_persona(Persona(style=StyleGuide(target_chars=30), pairs=pairs)))


def test_control_characters():
    f = codes(Persona(pairs=[QAPair("ok", "tab\tand\nnewline are fine"), QAPair("bell\x07", "a")]))
    assert f["CONTROL_CHARS"].rows == [2] and "U+0007" in f["CONTROL_CHARS"].message


def test_broken_dialog_sequence():
    pairs = [QAPair("1", "a", dialog_id="d"), QAPair("2", "b"), QAPair("3", "c", dialog_id="d"),
             QAPair("4", "e", dialog_id="k"), QAPair("5", "f", context="late", dialog_id="k")]
    f = codes(Persona(pairs=pairs))
    assert f["DIALOG_BROKEN"].rows == [1, 3]
    assert f["DIALOG_CONTEXT"].rows == [5] and f["DIALOG_CONTEXT"].severity == "warning"


def test_no_rows():
    assert codes(Persona())["NO_ROWS"].severity == "error"


def test_stats():
    p = Persona(style=StyleGuide(markers=["ですわ"]), pairs=[QAPair("a", "ですわ"), QAPair("b", "x" * 12)])
    s = persona_stats(p)
    assert (s.rows, s.marker_share, s.median_answer_chars) == (2, 0.5, 7.5)
    assert length_histogram(s.lengths) == [("00-09", 1), ("10-19", 1)]
    labels = [b for b, _ in length_histogram([3, 40, 130, 300], 32)]
    assert labels == sorted(labels) and labels[:2] == ["000-031", "032-063"]   # text order is number order
    assert persona_stats(Persona(pairs=[QAPair("a", "b")])).marker_share is None
