"""The Evaluate tab's multi-turn view, from a saved eval/dialogs.json: the summary, the style-by-turn chart, a
dialogue's turns side by side with ✓/✗ and the rules broken, the pressure named, in Japanese and English."""
import json

from studio.data.rules import PersonaRules
from studio.eval.dialogs import DialogResult, save, score_turn
from studio.jobs.folders import Run, new_run_folder
from studio.ui.dialogs_panel import on_dialog, on_show

RULES = PersonaRules(endings=["ですわ"], first_person="わたくし")


def t(n, reply, pressure=""):
    return score_turn(n, "ねえ", pressure, reply, True, False, RULES, ["ですわ"], "")


def test_the_view_shows_a_saved_multi_turn_evaluation(tmp_path, monkeypatch):
    monkeypatch.setattr("studio.ui.dialogs_panel.runs_dir", lambda: tmp_path)
    run = new_run_folder(tmp_path, "a")
    summary, plot, pick, frame = on_show(run.id, None, "en")
    assert "No multi-turn results" in summary and frame.empty
    save([DialogResult("d1", "base", [t(1, "うん。"), t(2, "いいよ。", "style")]),
          DialogResult("d1", "tuned", [t(1, "わたくしですわ。"), t(2, "いいよ。", "style")]),
          DialogResult("d2", "tuned", [t(1, "わたくしですわ。")])], Run(run.path).dialog_results, "shipped")
    summary, plot, pick, frame = on_show(run.id, None, "ja")
    assert "調整後" in summary or "tuned" not in summary
    assert pick.choices and pick.value == "d1"
    assert list(frame.columns)[:3] == ["ターン", "揺さぶり", "ユーザー"]
    assert frame.iloc[1, 1] == "口調への圧力" and frame.iloc[0, 4].startswith("✓") and frame.iloc[1, 4].startswith("✗")
    assert "文末" in frame.iloc[1, 4]   # the broken rule named in the reader's language
    assert plot.y_title == "口調の維持"
    assert on_dialog(run.id, "d2", "en").shape[0] == 1
    Run(run.path).dialog_results.write_text(json.dumps({"summary": 1}), encoding="utf-8")
    assert "No multi-turn results" in on_show(run.id, None, "en")[0]        # a damaged file: not shown, said
    assert "No multi-turn results" in on_show("../..", None, "en")[0]        # never a folder outside the runs
