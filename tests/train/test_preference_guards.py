"""Preference runs go through the same integrity and folder checks as every other path: a parent's links are never
followed, a hostile adapter config is refused before the worker asks for memory, the Train tab never names a run or
a file outside the studio, and preference files cost bounded time before they are refused."""
import json
import os
import time

import pytest

from studio.core.errors import StudioError
from studio.train.config import TrainConfig
from tests.conftest import finished_run

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("trl")
from tests.train.test_preference_training import CHOSEN, REJECTED, pairs_file  # noqa: E402 - the same files


def dpo(parent, prefs, **kw) -> TrainConfig:
    return TrainConfig(method="dpo", parent_run=parent.id, preferences=str(prefs), max_steps=2, **kw)


def test_a_parents_links_are_not_followed_into_the_new_run(tmp_path):
    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2", encoding="utf-8")
    os.symlink(secret, parent.data / "notes.txt")
    os.symlink(tmp_path / "base-chatml", parent.data / "big")     # a link to a whole folder
    runs = tmp_path / "runs"
    cfg, rendered, _ = preference_launch.check(dpo(parent, pairs_file(tmp_path / "p.jsonl")), runs)
    run = preference_launch.make_run_folder(cfg, rendered, runs)
    copied = {p.name for p in run.data.rglob("*")}
    assert "pairs.csv" in copied and "notes.txt" not in copied and "big" not in copied
    assert not any("hunter2" in p.read_text(errors="replace") for p in run.data.rglob("*") if p.is_file())


def test_a_parent_whose_snapshot_is_a_link_is_refused_and_leaves_no_folder(tmp_path):
    import shutil

    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(parent.data, elsewhere)
    os.symlink(elsewhere, parent.data)
    runs = tmp_path / "runs"
    cfg, rendered, _ = preference_launch.check(dpo(parent, pairs_file(tmp_path / "p.jsonl")), runs)
    before = set(runs.iterdir())
    with pytest.raises(StudioError) as e:
        preference_launch.make_run_folder(cfg, rendered, runs)
    assert e.value.key == "err.prefs.parent_snapshot" and set(runs.iterdir()) == before


def test_a_parent_adapter_asking_for_a_huge_rank_is_refused_before_loading(tmp_path):
    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    config = parent.adapter / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "r": 2_000_000}), encoding="utf-8")
    with pytest.raises(StudioError) as e:
        preference_launch.check(dpo(parent, pairs_file(tmp_path / "p.jsonl")), tmp_path / "runs")
    assert e.value.key == "err.prefs.parent_unusable" and "2000000" in e.value.render("en")


def test_a_parent_whose_base_is_gone_is_refused_before_any_folder(tmp_path):
    import shutil

    from studio.train import launch
    parent = finished_run(tmp_path)
    shutil.rmtree(tmp_path / "base-chatml")
    before = set((tmp_path / "runs").iterdir())
    with pytest.raises(StudioError) as e:
        launch.start_run(dpo(parent, pairs_file(tmp_path / "p.jsonl")), tmp_path / "runs")
    assert e.value.key == "err.model.not_found" and set((tmp_path / "runs").iterdir()) == before


def test_a_huge_reply_and_too_many_lines_are_refused_in_bounded_time(tmp_path, monkeypatch):
    from studio.data import preferences
    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    big = tmp_path / "big.jsonl"
    rows = [{"prompt": f"q{i}", "chosen": CHOSEN, "rejected": REJECTED} for i in range(9)]
    rows.append({"prompt": "q", "chosen": "あ" * 6_000_000, "rejected": REJECTED})
    big.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    started = time.time()
    with pytest.raises(StudioError) as e:
        preference_launch.check(dpo(parent, big), tmp_path / "runs")
    assert e.value.key == "err.prefs.text_too_long" and "big.jsonl line 10" in e.value.render("en")
    assert time.time() - started < 20
    monkeypatch.setattr(preferences, "MAX_PREFERENCES", 50)
    with pytest.raises(StudioError) as e:
        preference_launch.check(dpo(parent, pairs_file(tmp_path / "many.jsonl", 51)), tmp_path / "runs")
    assert e.value.key == "err.prefs.too_many" and "many.jsonl" in e.value.render("ja")


def test_votes_with_non_text_contract_fields_are_left_out_and_ratings_need_a_real_boolean(tmp_path):
    from studio.data.preferences import read_preference_file
    votes = tmp_path / "votes.jsonl"
    good = [{"id": f"v{i}", "vote": "A", "prompt": f"q{i}", "answer_a": CHOSEN, "answer_b": REJECTED,
             "sides": [{"system_prompt": "お嬢様", "persona": "", "template": "model"}]} for i in range(9)]
    bad = [{"id": "x1", "vote": "A", "prompt": "q", "answer_a": "a", "answer_b": "b",
            "sides": [{"system_prompt": {"role": "system"}}]},
           {"id": "x2", "vote": "A", "prompt": "q", "answer_a": "a", "answer_b": "b", "sides": [{"persona": ["x"]}]},
           {"id": "x3", "kind": "rating", "prompt": "q", "answer": "a", "label": "false"}]
    votes.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in good + bad), encoding="utf-8")
    prefs = read_preference_file(votes)
    assert [p.source for p in prefs] == [f"v{i}" for i in range(9)]
    assert all(isinstance(p.system, str) for p in prefs)


def test_the_train_tab_never_names_a_run_or_a_file_outside_the_studio(tmp_path, monkeypatch):
    from studio.ui import train_tab
    runs, ws = tmp_path / "runs", tmp_path / "ws"
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(runs))
    monkeypatch.setenv("STUDIO_HOME", str(ws))
    parent = finished_run(tmp_path)
    outside = finished_run(tmp_path / "outside", name="20260101-000000-other")
    os.symlink(outside.path, runs / "linked")
    inside_prefs = pairs_file(runs / "p.jsonl")
    secret = pairs_file(tmp_path / "secret.jsonl")
    os.symlink(secret, runs / "link.jsonl")
    values = {n: v for n, v in zip(train_tab.NAMES, train_tab.recipe_values(TrainConfig()))}

    def message(fn, **kw):
        form = {**values, "method": "dpo", "max_steps": 2, **kw}
        out = fn(*(() if fn is train_tab.on_preview else (_NoChats(),)), None, *[form[n] for n in train_tab.NAMES],
                 "en")
        return out[0] if isinstance(out, tuple) else out

    for fn in (train_tab.on_preview, train_tab.on_start):
        for ref in (str(outside.path), "../outside/runs/20260101-000000-other", "linked"):
            text = message(fn, parent_run=ref, preferences=str(inside_prefs))
            assert "outside" in text or "not a run" in text.lower(), (fn.__name__, ref, text)
        for prefs in (str(secret), "../secret.jsonl", str(runs / "link.jsonl")):
            text = message(fn, parent_run=parent.id, preferences=prefs)
            assert "outside the studio" in text, (fn.__name__, prefs, text)
    assert "python -m studio train" in message(train_tab.on_preview, parent_run=parent.id,
                                               preferences=str(inside_prefs))
    assert [p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()] == [parent.id]


class _NoChats:
    def release_for_job(self) -> str:
        return ""


def test_a_dpo_run_leaves_ratings_out_and_says_so(tmp_path):
    """Issue 37: the run's preferences.jsonl held two ratings while the log said 'skipped none'."""
    from studio.data.preferences import load_rows
    from studio.train import preference_launch
    from studio.train.methods.preference import PREFERENCES_FILE
    parent = finished_run(tmp_path)
    prefs = pairs_file(tmp_path / "p.jsonl")
    with open(prefs, "a", encoding="utf-8") as f:
        for i in range(2):
            f.write(json.dumps({"prompt": f"r{i}", "completion": CHOSEN, "label": True}, ensure_ascii=False) + "\n")
    cfg, rendered, warnings = preference_launch.check(dpo(parent, prefs), tmp_path / "runs")
    assert rendered.skipped == {"rating": 2} and len(rendered.rows) == 10
    said = " ".join(w.render("en") for w in warnings)
    assert "2 good/bad ratings (DPO learns from A/B pairs only" in said
    run = preference_launch.make_run_folder(cfg, rendered, tmp_path / "runs")
    assert all(p.paired for p in load_rows(run.path / PREFERENCES_FILE))
