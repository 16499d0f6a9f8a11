"""Issue 37: the Preferences view works the way a table does — a click on a row fills the vote id and shows its
chosen reply in the edit box, an id typed shows the same, and deleting one vote says one."""
import gradio as gr
import pytest

from studio.serve.votes import read_votes, record_rating, record_vote, votes_path
from studio.ui import prefs_panel


@pytest.fixture
def votes(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    made = [record_vote(votes_path(), "AB"[i % 2], "base", "run:x", [], f"質問{i}", f"A{i}ですわ", f"B{i}", {})
            for i in range(4)]
    made.append(record_rating(votes_path(), "run:x", True, [], "質問4", "評価された返答ですの", {}))
    return made


def test_a_click_on_a_row_fills_the_id_and_the_chosen_reply(votes):
    frame = prefs_panel.view("", "ja")
    row = next(i for i in range(len(frame)) if frame.iloc[i, 0] == votes[1]["id"])
    picked = gr.SelectData(None, {"index": [row, 3], "value": frame.iloc[row, 3]})
    vote_id, chosen = prefs_panel.on_pick(frame, picked)
    assert vote_id == votes[1]["id"] and chosen == "B1"              # vote B: the right reply was chosen
    assert prefs_panel.on_id_typed(votes[4]["id"]) == "評価された返答ですの"
    assert isinstance(prefs_panel.on_id_typed("no-such-id"), type(gr.skip()))


def test_deleting_one_vote_says_one_and_keeps_the_others(votes):
    message, _, _ = prefs_panel.on_delete(votes[0]["id"], "", "ja")
    assert message == "1 件の投票を削除しました。"
    assert [v["id"] for v in read_votes(votes_path())] == [v["id"] for v in votes[1:]]


def test_the_estimate_of_a_preference_run_counts_its_file_not_the_persona(votes, tmp_path):
    """Issue 37: 'Train on these votes' filled the Train tab for DPO, and the estimate still showed the persona's
    SFT rows; it counts the preference file's pairs now, and says what DPO leaves out (the ratings)."""
    from studio.train.config import TrainConfig
    from studio.train.plan import plan_run, preference_rows
    from studio.ui.train_tab import NAMES, on_estimate, recipe_values
    dpo = TrainConfig(method="dpo", parent_run="p", preferences=str(votes_path()), max_steps=30, batch_size=4,
                      grad_accum=1)
    assert preference_rows(dpo) == (4, 1)
    from dataclasses import replace
    assert preference_rows(replace(dpo, method="kto")) == (9, 0)
    assert "4 examples" in plan_run(dpo, 4, tmp_path / "runs").summary("en")
    (tmp_path / "runs" / "p").mkdir(parents=True)   # the parent the form names must be a run of this studio
    import os
    os.environ["STUDIO_RUNS_DIR"] = str(tmp_path / "runs")
    try:
        form = dict(zip(NAMES, recipe_values(TrainConfig())))
        form.update(method="dpo", parent_run="p", preferences=str(votes_path()), max_steps=30, batch_size=4,
                    grad_accum=1)
        text = on_estimate(None, *[form[n] for n in NAMES], "ja")
    finally:
        del os.environ["STUDIO_RUNS_DIR"]
    assert "学習に使う行は 4 行" in text and "評価 1 件は使いません" in text and "4 examples" not in text
