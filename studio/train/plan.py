"""Before Start: how many steps make one pass over the persona, how many passes the chosen steps are, and how long
the run should take, from the step time an earlier run of the same model and batch shape measured on this machine
(never a guess: without such a run the time is shown once training has begun). No torch."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from studio.core.jsonl import read_jsonl
from studio.train.config import TrainConfig

SAME_SHAPE = ("model", "method", "batch_size", "grad_accum", "max_length", "packing", "load_in_4bit",
              "gradient_checkpointing", "num_processes")


@dataclass
class Plan:
    rows: int                      # examples a pass holds (the persona's, plus replay rows)
    per_step: int                  # examples one optimizer step takes
    steps: int
    epochs: float
    seconds_per_step: float | None
    measured_in: str | None        # the run the step time comes from

    def summary(self, lang: str = "en") -> str:
        from studio.locale import tr
        text = tr(lang, "plan.steps", rows=self.rows, per_epoch=math.ceil(self.rows / self.per_step),
                  per_step=self.per_step, steps=self.steps, epochs=f"{self.epochs:.1f}")
        if self.seconds_per_step is None:
            return text + tr(lang, "plan.no_time")
        return text + tr(lang, "plan.time", minutes=max(1, round(self.steps * self.seconds_per_step / 60)),
                         per_step=f"{self.seconds_per_step:.1f}", run=self.measured_in)


def step_seconds(cfg: TrainConfig, runs_dir: Path) -> tuple[float, str] | None:
    """Seconds per step of the newest run here with the same model and batch shape, from its metrics (the time
    between its first and last logged steps, so loading and the first step's warm-up do not count)."""
    from studio.jobs.folders import Run
    from studio.jobs.runs import list_runs
    for info in list_runs(runs_dir):
        run = Run(info.path)
        try:
            other = TrainConfig.load(run.config)
            records = read_jsonl(run.metrics)
        except Exception:  # noqa: BLE001 - a run without readable settings or metrics tells nothing here
            continue
        if any(getattr(other, k) != getattr(cfg, k) for k in SAME_SHAPE):
            continue
        timed = [(r["step"], r["elapsed_s"]) for r in records if "elapsed_s" in r and r.get("step")]
        if len(timed) >= 2 and timed[-1][0] > timed[0][0]:
            (s0, t0), (s1, t1) = timed[0], timed[-1]
            return (t1 - t0) / (s1 - s0), info.id
    return None


def preference_rows(cfg: TrainConfig) -> tuple[int, int] | None:
    """(rows the preference run will train on, ratings a DPO run leaves out) counted from its file's shapes, without
    tokenizing (the start checks each one); None when the file cannot be read yet."""
    from studio.core.errors import StudioError
    from studio.data.preferences import read_preference_file
    from studio.train.methods import get_method
    try:
        prefs = read_preference_file(cfg.preferences)
    except StudioError:
        return None
    pairs = sum(p.paired for p in prefs)
    ratings = len(prefs) - pairs
    if get_method(cfg.method).ratings:   # KTO: each pair gives a good and a bad row, each rating one row
        return 2 * pairs + ratings, 0
    return pairs, ratings


def plan_run(cfg: TrainConfig, persona_rows: int, runs_dir: Path) -> Plan | None:
    """None without rows or when packing (a step then holds as many rows as fit, not a fixed number)."""
    if persona_rows <= 0 or cfg.packing:
        return None
    rows = math.floor(persona_rows * (1 - cfg.eval_fraction))
    if cfg.replay_share:
        rows = round(rows / (1 - cfg.replay_share))
    per_step = max(1, cfg.batch_size * cfg.grad_accum * max(1, cfg.num_processes))
    steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(cfg.epochs * rows / per_step)
    timed = step_seconds(cfg, runs_dir)
    return Plan(rows, per_step, steps, steps * per_step / max(rows, 1), timed[0] if timed else None,
                timed[1] if timed else None)
