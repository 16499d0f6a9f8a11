import json
import random

import pytest

from studio.core.errors import StudioError
from studio.serve.votes import assign_sides, export_preferences, read_votes, record_vote, win_rates


def test_vote_log_win_rates_and_preference_export_round_trip(tmp_path):
    log = tmp_path / "votes.jsonl"
    for vote, a, b in (("A", "base", "run1"), ("B", "base", "run1"), ("B", "run1", "base"), ("tie", "base", "run1"),
                       ("both_bad", "run1", "base")):
        record_vote(log, vote, a, b, [], f"q-{vote}", f"ans {a}", f"ans {b}", {"seed": 0})
    votes = read_votes(log)
    assert len(votes) == 5 and votes[0]["settings"] == {"seed": 0}
    rates = win_rates(votes)
    assert rates == [{"model_x": "base", "model_y": "run1", "votes": 5, "x_win_rate": 0.4, "y_win_rate": 0.2,
                      "ties": 1, "both_bad": 1}]
    out = tmp_path / "prefs.jsonl"
    assert export_preferences(votes, out) == 3
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == {"prompt": "q-A", "chosen": "ans base", "rejected": "ans run1"}
    assert rows[1] == {"prompt": "q-B", "chosen": "ans run1", "rejected": "ans base"}
    datasets = pytest.importorskip("datasets")
    assert datasets.load_dataset("json", data_files=str(out), split="train").column_names == \
        ["prompt", "chosen", "rejected"]


def test_sides_are_randomised_and_bad_votes_refused(tmp_path):
    seen = {assign_sides("x", "y", random.Random(i)) for i in range(20)}
    assert seen == {("x", "y"), ("y", "x")}
    with pytest.raises(StudioError):
        record_vote(tmp_path / "v.jsonl", "C", "x", "y", [], "q", "a", "b", {})
    with pytest.raises(StudioError, match="No A/B votes"):
        export_preferences([], tmp_path / "p.jsonl")


def test_blind_sides_are_shuffled_per_comparison():
    from studio.serve.chat_session import ChatSession
    s = ChatSession(runs_dir="runs")
    lefts = []
    for _ in range(400):
        s.start("base", "run:x", blind=True)
        lefts.append(s.panes[0].choice)
        assert s.labels() == ("A", "B") and not s.revealed
    assert 140 <= lefts.count("base") <= 260  # about half each way (binomial, 400 draws: > 6 sigma margin)
    s.panes[0].history.append(("q", "a"))
    assert not s.needs_new_comparison("base", "run:x", True)   # same comparison goes on until the vote
    s.revealed = True
    assert s.needs_new_comparison("base", "run:x", True)       # voted: the next message is a new comparison


def test_a_reply_that_repeats_itself_is_seen_as_a_loop():
    """Issue 37: the base pane ran to the token limit repeating one line ('夏休みの予定は？に行った。' x7), 70-150 s
    an exchange on a busy CPU; a reply is ended when it ends with one block three times in a row."""
    from studio.serve.chat import looping
    line = [11, 12, 13, 14, 15]
    assert looping([1, 2] + line * 3) == 5
    assert looping([1, 2] + line * 2) == 0                 # twice is not yet a loop
    assert looping([7, 7, 7]) == 0 and looping([7] * 12) > 0   # "！！！" is not a loop; a long run of one token is
    assert looping(list(range(40)) + list(range(40))) == 0
