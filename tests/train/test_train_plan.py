"""Issue 26 (what a LlamaBoard user reaches for): before Start, the Train tab says how many steps make an epoch of
this persona, how many epochs the steps are, and a time measured by an earlier run of the same model and batch
shape here (never a guess); the estimate follows the persona the page opens and the tab being looked at."""
import json

from studio.jobs.status import State, write_status
from studio.train.config import TrainConfig
from studio.train.plan import plan_run


def earlier_run(runs, name: str, cfg: TrainConfig, times: list[tuple[int, float]]):
    folder = runs / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "elapsed_s": t, "loss": 1.0}) + "\n"
                                                  for s, t in times), encoding="utf-8")
    write_status(folder, state=State.FINISHED)


def test_steps_and_epochs_for_the_personas_rows_without_a_time_guess(tmp_path):
    cfg = TrainConfig(model="smollm2", batch_size=4, grad_accum=2, max_steps=60)
    plan = plan_run(cfg, 143, tmp_path / "runs")
    assert (plan.rows, plan.per_step, plan.steps, round(plan.epochs, 2)) == (143, 8, 60, 3.36)
    assert plan.summary("en") == ("143 examples → 18 steps per epoch at 8 a step; 60 steps ≈ 3.4 epochs. Time: shown "
                                  "once training has begun (no earlier run of this model and batch shape here).")
    assert plan.summary("ja").startswith("143 件 → 1 エポック 18 ステップ(1 ステップ 8 件)。"
                                         "60 ステップ ≈ 3.4 エポック。")
    by_epochs = plan_run(TrainConfig(model="smollm2", batch_size=4, grad_accum=2, max_steps=0, epochs=2.0), 143,
                         tmp_path / "runs")
    assert by_epochs.steps == 36
    assert plan_run(TrainConfig(packing=True), 143, tmp_path) is None and plan_run(cfg, 0, tmp_path) is None


def test_the_time_comes_from_an_earlier_run_of_the_same_shape(tmp_path):
    runs = tmp_path / "runs"
    cfg = TrainConfig(model="smollm2", batch_size=4, grad_accum=2, max_steps=60)
    earlier_run(runs, "20260101-000000-a", cfg, [(1, 9.0), (5, 17.0), (11, 29.0)])        # 2 s a step after warm-up
    earlier_run(runs, "20260102-000000-b", TrainConfig(model="smollm2", batch_size=8, grad_accum=2),
                [(1, 1.0), (11, 101.0)])                                                # another batch shape
    plan = plan_run(cfg, 143, runs)
    assert (plan.seconds_per_step, plan.measured_in) == (2.0, "20260101-000000-a")
    assert plan.summary("en").endswith("Time: about 2 min (2.0 s a step, measured in run 20260101-000000-a with the "
                                       "same model and batch shape).")
    assert "約 2 分" in plan.summary("ja")


def test_the_estimate_is_refreshed_when_the_train_tab_is_opened_and_after_the_persona_loads():
    from studio.ui.app import build_app
    demo, _ = build_app()
    memory = next(b for b in demo.blocks.values() if getattr(b, "label", None) and "train.memory" in str(b.label))
    estimating = [d for d in demo.config["dependencies"] if memory._id in d["outputs"]]
    triggers = {(t[1]) for d in estimating for t in d["targets"]}
    assert "select" in triggers and "then" in triggers, triggers


def test_a_finding_about_no_row_in_particular_is_said_without_empty_parentheses():
    """Issue 37: the Start message said 'DOUBLE_BOS(): …'."""
    from studio.core.findings import Finding
    from studio.locale import T
    from studio.train.preflight import _short
    whole = Finding.of("DOUBLE_BOS", "warning", T("d.double_bos", where="text", bos="<s>"), T("d.double_bos.fix"))
    assert _short(whole).render("ja").startswith("DOUBLE_BOS: ") and "()" not in _short(whole).render("en")
