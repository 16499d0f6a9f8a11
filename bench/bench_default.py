"""Benchmark: each embedded model trained on the sample persona with this device's recipe, then `studio eval`:
style, stop, replies in the persona's length band, free-form knowledge (base and tuned), training time, and a few
held-out replies to read. The README's table for the embedded models comes from one run of this.

    python -m bench.bench_default                          # default (Gemma 3 270M) and smollm2
    python -m bench.bench_default --models default --steps 30 --lr 5e-4 --replay 0
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"


def studio(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"studio {' '.join(args[:3])} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def one(model: str, runs: Path, steps: int | None, lr: float | None, replay: float | None) -> dict:
    from studio.train.recipes import recipe
    studio("prepare-model", "--name", model)
    cfg = recipe(model)
    cfg.data = str(DATA)
    if steps:
        cfg.max_steps = steps
    if lr:
        cfg.learning_rate = lr
    if replay is not None:
        cfg.replay_share = replay
    path = Path(tempfile.mkdtemp(prefix="bench-default-")) / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    run = Path(studio("train", "--config", str(path), "--runs-dir", str(runs)).strip().splitlines()[-1])
    res = json.loads(studio("eval", "--run", str(run), "--runs-dir", str(runs), "--json"))
    from studio.format.contract import Contract
    from studio.jobs.folders import Run
    from studio.jobs.status import read_status
    status = read_status(run)
    replay_rows = Contract.load(Run(run).adapter).replay_rows
    row = {"model": model, "steps": cfg.max_steps, "lr": cfg.learning_rate, "replay": cfg.replay_share,
           "replay_rows": replay_rows, "train_s": round((status.finished or 0) - (status.started or 0), 1),
           **{f"{m}_{k}": res[m].get(k) for m in ("base", "tuned")
              for k in ("style_rate", "stop_rate", "length_adherence", "freeform_score")},
           "freeform_base_as": res.get("freeform_base_as"), "run": str(run),
           "samples": [(a["question"], a["tuned"]) for a in res["answers"][:6]]}
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["default", "smollm2"])
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--replay", type=float, default=None)
    args = ap.parse_args()
    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="bench-default-runs-"))
    rows = []
    for model in args.models:
        rows.append(one(model, runs, args.steps, args.lr, args.replay))
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    print("| model | style | stop | in length band | free-form base → tuned | training s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['tuned_style_rate']:.3f} | {r['tuned_stop_rate']:.3f} | "
              f"{r['tuned_length_adherence']:.3f} | {r['base_freeform_score']:.3f} → {r['tuned_freeform_score']:.3f} "
              f"| {r['train_s']} |")


if __name__ == "__main__":
    main()
