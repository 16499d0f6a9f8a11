"""What the Train tab shows, from run files only: the loss plot's updates, progress in both languages, the log."""
import pandas as pd

from studio.train.views import log_html, plot_update, progress_text


def frame(*series):
    rows = [{"step": i, "loss": 1.0 / i, "series": s} for s in series for i in (1, 2)]
    return pd.DataFrame(rows, columns=["step", "loss", "series"])


def test_plot_is_drawn_anew_when_its_series_change():
    assert plot_update(frame(), []) == (None, [])                 # nothing to draw: no empty first frame
    value, shown = plot_update(frame("train"), [])
    assert shown == ["train"] and len(value) == 2                 # first data: drawn with its series
    assert plot_update(frame("train"), ["train"])[1] == ["train"]  # same series: data update only
    assert plot_update(frame("train", "eval"), ["train"]) == (None, [])  # eval appears: clear once ...
    value, shown = plot_update(frame("train", "eval"), [])
    assert shown == ["train", "eval"] and len(value) == 4         # ... then drawn with both colors


def test_progress_line_in_both_languages(tmp_path):
    import json
    run = tmp_path / "20260101-000000-x"
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"state": "finished", "step": 6, "total": 6}), encoding="utf-8")
    assert progress_text(run, "en")[0] == "20260101-000000-x: finished · step 6/6 (100%)"
    assert progress_text(run, "ja")[0] == "20260101-000000-x: 完了 · ステップ 6/6 (100%)"
    assert progress_text(None, "ja")[0] == "まだ実行がありません。"


def test_log_box_escapes_and_stays_at_its_tail():
    html = log_html("<script>x</script>\nstep 5")
    assert "<script>" not in html and "&lt;script&gt;" in html and "column-reverse" in html


def test_run_history_flags_forgetting_from_the_runs_evaluation(tmp_path):
    import json

    from studio.jobs.status import write_status
    from studio.train.views import history_frame
    from studio.ui.eval_tab import summary_flag
    run = tmp_path / "20260101-000000-a"
    (run / "eval").mkdir(parents=True)
    write_status(run, state="finished", step=5, total=5)
    res = {"base": {"freeform_score": 0.93}, "tuned": {"freeform_score": 0.1}, "forgetting": True}
    (run / "eval" / "results.json").write_text(json.dumps(res))
    frame = history_frame(tmp_path, "ja")
    assert frame.iloc[0, -1] == "0.93 → 0.10 ⚠ 忘却" and frame.columns[-1] == "自由回答の知識(ベース → 調整後)"
    from studio.eval.results import EvalResults
    assert "0.93" in summary_flag(EvalResults.from_dict(res), "en") and "83 points" in summary_flag(
        EvalResults.from_dict(res), "en")
    res.update(forgetting=False, tuned={"freeform_score": 0.9})
    (run / "eval" / "results.json").write_text(json.dumps(res))
    assert history_frame(tmp_path, "en").iloc[0, -1] == "0.93 → 0.90"
    assert summary_flag(EvalResults.from_dict(res), "en") == ""
