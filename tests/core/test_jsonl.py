"""Every JSONL file the studio writes reads back whole, whatever the text (U+2028, U+2029, U+0085 and the other
characters str.splitlines() breaks on), and a rewrite drops only what it was asked to drop."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.jsonl import append_jsonl, dumps_line, read_jsonl, rewrite_jsonl, split_lines
from studio.data.preferences import Preference, load_rows, read_preference_file, write_rows
from studio.serve.votes import delete_votes, edit_chosen, read_votes, record_rating, record_vote, vote_counts, vote_rows

BREAKERS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r\n"


def test_a_vote_holding_line_separators_survives_recording_deleting_and_editing(tmp_path):
    log = tmp_path / "votes.jsonl"
    first = record_vote(log, "A", "base", "run:x", [], "q1", "ですわ\u2028改行", "b", {})
    second = record_vote(log, "B", "base", "run:x", [], "q2\u2029", "a", "ごきげんよう\x85です", {})
    third = record_rating(log, "run:x", True, [], "q3", "わたくし\u2028", {})
    assert len(read_votes(log)) == 3 and vote_counts(read_votes(log)) == (2, 1)
    assert all(len(line) > 2 for line in log.read_text(encoding="utf-8").splitlines())  # one record a line, any reader
    assert delete_votes(log, [third["id"]]) == 1
    assert [v["id"] for v in read_votes(log)] == [first["id"], second["id"]]
    edit_chosen(log, second["id"], "新しい\u2028返答")
    votes = read_votes(log)
    assert votes[0]["answer_a"] == "ですわ\u2028改行" and votes[1]["answer_b"] == "新しい\u2028返答"


def test_a_file_written_before_the_escaping_still_reads_whole(tmp_path):
    log = tmp_path / "votes.jsonl"
    raw = [json.dumps({"id": f"v{i}", "prompt": f"q{i}\u2028x", "vote": "A", "answer_a": "a\x85", "answer_b": "b"},
                      ensure_ascii=False) for i in range(3)]
    log.write_text("\n".join(raw) + "\n", encoding="utf-8")
    assert [v["id"] for v in read_votes(log)] == ["v0", "v1", "v2"]


def test_a_rewrite_keeps_lines_it_cannot_read_and_counts_only_what_it_changed(tmp_path):
    log = tmp_path / "votes.jsonl"
    record_vote(log, "A", "x", "y", [], "q", "a", "b", {})
    with open(log, "ab") as f:
        f.write(b'{"torn": \n[1, 2]\n\xff\xfe not json\n{"kind": "rating", "prompt": "no id"}\n')
    record_vote(log, "B", "x", "y", [], "q2", "a", "b", {})
    before = log.read_bytes().split(b"\n")
    assert delete_votes(log, ["None", ""]) == 0        # no id matches a record without one
    assert delete_votes(log, [read_votes(log)[-1]["id"]]) == 1
    after = log.read_bytes().split(b"\n")
    assert after == before[:1] + before[1:5] + [b""]    # the unreadable lines stay, byte for byte


def test_the_preferences_view_counts_and_shows_only_usable_text_records(tmp_path):
    log = tmp_path / "votes.jsonl"
    append_jsonl(log, [
        {"id": "ok", "vote": "A", "prompt": "q", "answer_a": "a", "answer_b": "b", "sides": [{"persona": "綾乃"}]},
        {"id": "p1", "vote": "A", "prompt": ["not", "text"], "answer_a": "a", "answer_b": "b"},
        {"id": "p2", "vote": "B", "prompt": "q", "answer_a": "a", "answer_b": {"x": 1}},
        {"id": "p3", "vote": "A", "prompt": "q", "answer_a": "a", "answer_b": "b",
         "sides": [{"system_prompt": ["list"], "persona": "綾乃"}]},
        {"id": "p4", "vote": "A", "prompt": "q", "answer_a": "a", "answer_b": "b", "sides": [{"template": 3}]},
        {"id": "r1", "kind": "rating", "prompt": "q", "answer": "a", "label": "false"},
        {"id": "r2", "kind": "rating", "prompt": "q", "answer": "a", "label": False},
    ])
    votes = read_votes(log)
    assert [r[0] for r in vote_rows(votes)] == ["ok", "r2"] and vote_rows(votes)[1][5] == "👎"
    assert vote_counts(votes) == (1, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(BREAKERS)), min_size=1, max_size=4))
def test_any_text_round_trips_through_every_jsonl_writer(tmp_path_factory, texts):
    folder = tmp_path_factory.mktemp("j")
    records = [{"t": t, "n": i} for i, t in enumerate(texts)]
    append_jsonl(folder / "a.jsonl", records)
    assert read_jsonl(folder / "a.jsonl") == records
    assert [json.loads(line) for line in split_lines("".join(dumps_line(r) + "\n" for r in records))] == records
    assert all("\u2028" not in dumps_line(r) and "\x85" not in dumps_line(r) for r in records)
    prefs = [Preference(t or "q", system=t, chosen=t + "a", rejected=t + "b") for t in texts]
    write_rows(prefs, folder / "p.jsonl")
    assert load_rows(folder / "p.jsonl") == prefs
    assert [p.chosen for p in read_preference_file(folder / "p.jsonl")] == [p.chosen for p in prefs]
    assert rewrite_jsonl(folder / "a.jsonl", lambda r: r) == 0 and read_jsonl(folder / "a.jsonl") == records
