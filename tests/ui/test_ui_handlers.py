"""Tabs wire, logic decides: the tabs' handlers are module-level functions over a session object, tested here
without a server; the decisions they used to make (votes, which job to follow, releasing chat models, run cards,
saved evaluation results, a save's outcome) live in studio/ and are tested as such."""
import json

import gradio as gr
import pytest

from studio.core.errors import StudioError
from studio.data import persona_session as ps
from studio.data.persona import Persona, QAPair
from studio.data.persona_store import save_persona
from studio.eval.registry import METRICS, rate_names
from studio.eval.results import EvalResults, job_results, saved_results
from studio.jobs.folders import Run, new_job_folder, new_run_folder
from studio.jobs.launcher import to_follow
from studio.jobs.status import pid_fields, write_status
from studio.locale import tr
from studio.serve.chat_session import ChatRegistry, ChatSession
from studio.train.config import TrainConfig
from studio.ui import persona_tab, train_tab


@pytest.fixture
def persona(tmp_path):
    folder = tmp_path / "p"
    save_persona(Persona(name="綾乃", system_prompt="お嬢様", pairs=[QAPair("元気？", "ええ、元気ですわ。")]), folder)
    return folder


def test_train_handlers_without_a_server(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    values = train_tab.form_values(TrainConfig(max_steps=7), train_tab.NAMES)
    assert train_tab.to_config(None, *values).max_steps == 7
    assert train_tab.on_stop(None, "ja") == tr("ja", "train.no_run")
    message, run = train_tab.on_start(ChatRegistry(), None, *values, "en")   # no persona open: refused, nothing starts
    assert run == gr.skip() and not (tmp_path / "runs").exists()
    assert "persona" in message
    assert train_tab.on_preset("default", "default") == [gr.skip()] * len(train_tab.NAMES)
    assert train_tab.attach(None) is None


def test_persona_handlers_without_a_server(persona):
    s = ps.open_session(persona)
    out = persona_tab.row_op("dup")(s, 1, "", "row", "en")
    assert len(s.persona.pairs) == 2 and out[-1] == 2
    assert s.status.key == "table.row_done" and s.status.params["saved"].key == "persona.saved"
    assert persona_tab.on_open("", "", "row", "en") == [gr.skip()] * persona_tab.N_EVERYTHING
    assert persona_tab.on_conflict(s).visible is False


def test_a_vote_needs_an_exchange_and_reveals_the_sides(tmp_path):
    s = ChatSession(str(tmp_path / "runs"))
    s.start("base", "run:x", blind=True)
    with pytest.raises(StudioError):
        s.vote("A", [0.7, 0.9, 0, 1.1, 64, 0], tmp_path / "votes.jsonl")
    s.last = {"prompt": "元気？", "answers": ["ええ。", "はい。"], "history": [[], []]}
    a, b = s.vote("B", [0.7, 0.9, 0, 1.1, 64, 0], tmp_path / "votes.jsonl")
    assert {a, b} == {"base", "run:x"} and s.revealed and not s.last
    entry = json.loads((tmp_path / "votes.jsonl").read_text(encoding="utf-8"))
    assert entry["vote"] == "B" and entry["settings"]["max_new_tokens"] == 64


def test_a_page_follows_the_running_job_else_its_own_else_the_latest(tmp_path):
    runs = tmp_path / "runs"
    old, new = new_run_folder(runs, "a"), new_run_folder(runs, "b")
    for run in (old, new):
        write_status(run.path, state="finished")
    assert to_follow(runs, ("train",), None) == str(new.path)
    assert to_follow(runs, ("train",), str(old.path)) == str(old.path)
    write_status(old.path, state="running", **pid_fields(__import__("os").getpid()))
    assert to_follow(runs, ("train",), str(new.path)) == str(old.path)
    job = new_job_folder(runs, "eval", "x")
    write_status(job.path, state="finished")
    (job.params).write_text(json.dumps({"kind": "eval", "ref": old.id}), encoding="utf-8")
    assert to_follow(runs, ("eval",), None) == str(job.path)


def test_saved_results_stay_inside_the_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    run = new_run_folder(runs, "a")
    run.eval.mkdir()
    run.results.write_text(json.dumps({"base": {}, "tuned": {}}), encoding="utf-8")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text("{}", encoding="utf-8")
    assert saved_results(run.id, runs) == EvalResults()
    for ref in ("..", "../", str(tmp_path), "a/../.."):
        assert saved_results(ref, runs) is None
    job = new_job_folder(runs, "eval")
    job.params.write_text(json.dumps({"ref": run.id}), encoding="utf-8")
    assert job_results(job.path, runs) is None          # not finished yet
    write_status(job.path, state="finished")
    assert job_results(job.path, runs)[0] == EvalResults()


def test_every_metric_has_a_label_in_each_language():
    from studio.locale import CATALOGS
    for metric in METRICS:
        for lang, table in CATALOGS.items():
            assert f"metric.{metric.name}" in table, (lang, metric.name)
    assert {"style_rate", "stop_rate", "knowledge_score"} <= set(rate_names())


def test_a_run_card_uses_the_run_s_own_persona_and_contract(tmp_path, persona):
    from studio.data.cards import card_from_json
    from studio.export.card import write_run_card
    runs = tmp_path / "runs"
    run = new_run_folder(runs, "a")
    save_persona(Persona(name="綾乃", system_prompt="お嬢様として", pairs=[QAPair("q", "a")]), run.data)
    run.contract.write_text(json.dumps({"template": "model", "system_prompt": "お嬢様として"}), encoding="utf-8")
    path = write_run_card(run.id, runs, tmp_path / "card.json")
    card = json.loads(path.read_text(encoding="utf-8"))
    assert card_from_json(card, "card.json").name == "綾乃" and "お嬢様として" in json.dumps(card, ensure_ascii=False)
    with pytest.raises(StudioError):
        write_run_card("no-such-run", runs)
    assert Run(run.path).export == run.path / "export"


def test_win_rates_show_as_percentages_under_the_readers_column_names():
    from studio.ui.chat_tab import win_rate_frame
    votes = [{"model_a": "base", "model_b": "run:x", "vote": v, "prompt": "q", "answer_a": "a", "answer_b": "b"}
             for v in ("A", "B", "B")]
    frame = win_rate_frame(votes, "en")
    assert "0.333" not in frame.to_string() and "33%" in frame.to_string() and "67%" in frame.to_string()


def test_the_preview_command_rebuilds_the_settings_shown():
    """Train tab → 'Show the command': parsed by the CLI the way `studio train` builds its settings (the model's
    recipe, then the flags), the line gives back exactly the settings in the form."""
    import shlex
    from dataclasses import asdict

    from studio.cli.main import build_parser
    from studio.core.settings import given_flags
    from studio.train.config import TrainConfig
    from studio.train.recipes import recipe
    cfg = recipe("smollm2")
    cfg.learning_rate, cfg.lora_r, cfg.packing, cfg.target_modules = 3e-4, 8, True, ["q_proj", "v_proj"]
    cfg.preferences = "my votes/それ's.jsonl"   # quoted for the shell
    line = train_tab.on_preview(None, *train_tab.recipe_values(cfg), "en")
    assert line.startswith("python -m studio train --model smollm2 ") and "--learning-rate 0.0003" in line
    args = build_parser().parse_args(shlex.split(line)[3:])
    rebuilt = TrainConfig.from_dict({**asdict(recipe(args.model)), **given_flags(args, TrainConfig)}, "test")
    assert rebuilt == cfg


def test_every_table_and_chart_is_labelled_in_the_readers_language_before_its_first_fill():
    """Issue 26: headers and axis titles were fixed at build time in English (win rates, Evaluate, Format findings,
    'tokens'/'examples', 'step'/'loss'/'series') until a first fill."""
    import re

    import gradio as gr

    from studio.ui.app import build_app
    from studio.ui.blank import marked, relabel
    demo, _ = build_app()
    tables, charts = marked(demo)
    everything = [b for b in demo.blocks.values() if isinstance(b, (gr.Dataframe, gr.BarPlot, gr.LinePlot))]
    assert len(tables) + len(charts) == len(everything) >= 14
    ascii_only = re.compile(r"^[\x00-\x7f]*$")
    out = relabel(tables, charts)("ja", *[None] * len(tables))
    for frame in out[:len(tables)]:
        assert [c for c in frame.columns if ascii_only.match(c) and c != "#"] == [], list(frame.columns)
    for update in out[len(tables):]:
        titles = [update.x_title, update.y_title] + ([update.color_title] if update.color_title else [])
        assert [t for t in titles if t.strip() and ascii_only.match(t)] == [], titles
    # a table holding data is left as it is
    import pandas as pd
    kept = relabel(tables, charts)("ja", pd.DataFrame({"a": ["x"]}), *[None] * (len(tables) - 1))
    assert isinstance(kept[0], type(gr.skip()))
