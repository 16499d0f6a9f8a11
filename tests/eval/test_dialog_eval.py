"""Multi-turn evaluation: per-turn scores (style, first person, rules, echo), the break turn and the style slope of a
dialogue, the summary by turn and on pressure turns, and a whole run through `eval --dialogs` on a tiny model."""
import json

import pytest

from studio.data.rules import PersonaRules
from studio.eval.dialogs import DialogResult, echoes, score_turn, summary

RULES = PersonaRules(endings=["ですわ"], first_person="わたくし", min_chars=2, max_chars=60)
MARKERS = ["わたくし", "ですわ"]


def turn(n, reply, pressure="", stopped=True, user="ご趣味は？"):
    return score_turn(n, user, pressure, reply, stopped, False, RULES, MARKERS, "あなたは名家の令嬢です。")


def test_each_turn_is_scored_and_the_break_is_the_first_failed_rule():
    good, casual = turn(1, "わたくし、ピアノですわ。"), turn(3, "俺はピアノ。", "style")
    assert good.style and good.first_person and good.rules and good.failed == []
    assert not casual.style and casual.first_person is False and casual.failed == ["endings", "first_person"]
    echo = turn(3, "ご趣味は何ですかと聞かれましたわ", user="ご趣味は何ですかと聞かれました")
    assert echo.echo and "echo" in echo.failed and not echo.rules
    assert echoes("あなたは名家の令嬢です。", "あなたは名家の令嬢です。わたくし") and not echoes("はい", "はい")
    d = DialogResult("a", "tuned", [good, turn(2, "わたくしも好きですわ。"), casual, turn(4, "うん。", "meta")])
    assert d.break_turn == 3
    assert d.style_slope < 0
    assert DialogResult("b", "tuned", [good, good]).break_turn is None


def test_the_summary_is_by_turn_and_on_pressure_turns():
    held = DialogResult("a", "tuned", [turn(1, "わたくし、紅茶ですわ。"), turn(2, "わたくしもですわ。", "meta")])
    broke = DialogResult("b", "tuned", [turn(1, "わたくし、紅茶ですわ。"), turn(2, "うん、そうだよ。", "style")])
    base = DialogResult("a", "base", [turn(1, "はい。"), turn(2, "いいえ。", "meta")])
    s = summary([held, broke, base])
    assert s["tuned"]["style_by_turn"] == [1.0, 0.5] and s["tuned"]["style_pressure"] == 0.5
    assert s["tuned"]["held_to_the_end"] == 0.5 and s["tuned"]["median_break_turn"] == 2
    assert s["base"]["style_by_turn"] == [0.0, 0.0] and s["base"]["median_break_turn"] == 1


@pytest.mark.slow
def test_eval_dialogs_on_a_tiny_model(tmp_path, capsys):
    from studio.__main__ import main
    from tests.conftest import finished_run
    run = finished_run(tmp_path)
    capsys.readouterr()   # the tiny adapter's training log, the first time a session needs it
    dialogs = tmp_path / "d.yaml"
    dialogs.write_text("- id: one\n  turns: [ごきげんよう, {text: タメ口で話して, pressure: style}, 趣味は？]\n"
                       "- id: two\n  turns: [hello, {text: 'Are you an AI?', pressure: meta}]\n", encoding="utf-8")
    assert main(["eval", "--run", run.id, "--runs-dir", str(tmp_path / "runs"), "--dialogs", str(dialogs),
                 "--max-new-tokens", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["summary"]) == {"base", "tuned"} and len(data["summary"]["tuned"]["style_by_turn"]) == 3
    by = {(r["model"], r["id"]): r for r in data["results"]}
    assert [t["turn"] for t in by[("tuned", "one")]["turns"]] == [1, 2, 3]
    assert by[("tuned", "two")]["turns"][1]["pressure"] == "meta"
    assert json.loads(run.dialog_results.read_text(encoding="utf-8"))["summary"] == data["summary"]
    assert main(["eval", "--run", run.id, "--runs-dir", str(tmp_path / "runs"), "--dialogs", str(tmp_path / "no"),
                 "--max-new-tokens", "4"]) == 2
    assert "no such dialogues file" in capsys.readouterr().err


def test_the_harness_ranks_adapters_as_their_training_says(monkeypatch):
    """A planted contrast: a character trained on single questions only loses its voice once a conversation has
    a history and a push (from turn 3), one trained with dialogues and pressure turns holds until a late push, the
    base never has it. The harness must say so: a later break turn, a flatter style slope, both above the base."""
    from types import SimpleNamespace

    from studio.data.dialogs import Dialog, Turn
    from studio.eval.dialogs import run_dialogs
    from studio.serve.chat import Reply

    def planted(engine, rows, settings, *a, **kw):
        out = []
        for r in rows:
            turn = len(r.history) + 1
            if r.adapter is None:
                text = "はい、そうです。"
            elif r.adapter == "single":
                text = "わたくし、紅茶ですわ。" if turn < 3 else "うん、いいよ。"
            else:
                text = "わたくし、紅茶ですわ。" if turn < 6 else "うん、いいよ。"
            out.append(Reply(text, True, 5))
        return out
    monkeypatch.setattr("studio.serve.batched.answer_all", planted)
    turns = [Turn("ごきげんよう。"), Turn("趣味は？"), Turn("タメ口でいいよ。", "style"), Turn("好きな花は？"),
             Turn("AIなんでしょ？", "meta"), Turn("English please.", "language")]
    dialogs = [Dialog(f"d{i}", turns) for i in range(3)]
    contract = SimpleNamespace(system_for=lambda: "あなたは名家の令嬢です。", style_markers=MARKERS)
    results = run_dialogs(None, contract, dialogs, {"base": None, "single": "single", "dialogs": "dialogs"}, RULES)
    s = summary(results)
    assert s["dialogs"]["median_break_turn"] == 6 and s["single"]["median_break_turn"] == 3
    assert s["single"]["style_slope"] < s["dialogs"]["style_slope"] < 0
    assert s["dialogs"]["style_pressure"] > s["single"]["style_pressure"]
    assert min(s["dialogs"]["style_ordinary"], s["single"]["style_ordinary"]) > s["base"]["style_ordinary"] == 0.0
    assert s["base"]["median_break_turn"] == 1
