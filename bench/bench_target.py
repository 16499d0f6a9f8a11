"""Benchmark: time to target. Trains the sample persona with the device's default recipe (replay included) under
several settings, evaluates every checkpoint on the persona's held-out probe questions, and prints the training
time (the run's own metrics, evaluation not counted) until the style rate first reaches the target, with the stop
rate there and at the end. Packing makes fewer, fuller steps, so the step counts differ by design.

    python -m bench.bench_target                                   # padding-free 60 steps vs packed 20 and 30
    python -m bench.bench_target --settings padfree:60:10 packed:24:3:1x4   # mode:steps:checkpoint every N steps
                                                                          # [:batch x accumulation]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"


def train(runs: Path, setting: str) -> Path:
    from studio.train.recipes import recipe
    mode, steps, every, *shape = setting.split(":")
    cfg = recipe("default")
    cfg.data, cfg.max_steps, cfg.save_steps, cfg.save_total_limit = str(DATA), int(steps), int(every), 100
    cfg.packing = mode == "packed"
    cfg.padding_free = mode != "padded"
    if shape:
        cfg.batch_size, cfg.grad_accum = (int(x) for x in shape[0].split("x"))
    path = Path(tempfile.mkdtemp(prefix="bench-target-")) / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "studio", "train", "--config", str(path), "--runs-dir", str(runs)],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"training failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[0])


def scores(run: Path, max_new_tokens: int) -> list[dict]:
    """Style and stop rate of every checkpoint on the run's probe questions (greedy, as `studio eval` asks)."""
    from studio.eval.metrics import stop_rate, style_rate
    from studio.eval.prompts import read_prompts
    from studio.format.contract import Contract
    from studio.jobs.checkpoints import checkpoints
    from studio.jobs.folders import Run
    from studio.jobs.runs import read_metrics
    from studio.serve.batched import answer_all
    from studio.serve.chat import ChatEngine, GenSettings, Row
    contract = Contract.load(run)
    questions = [p.question for p in read_prompts(run / "data" / "probe.txt")]
    elapsed = {m["step"]: m["elapsed_s"] for m in read_metrics(run)}
    engine = ChatEngine(contract.base_model_path)
    out = []
    for step, folder in sorted(checkpoints(run)):
        shutil.copy(Run(run).contract, folder / Run(run).contract.name)
        name = f"step{step}"
        engine.add_adapter(name, folder)
        replies = answer_all(engine, [Row(name, contract, [], q) for q in questions],
                             GenSettings(max_new_tokens=max_new_tokens))
        out.append({"step": step, "train_s": elapsed.get(step),
                    "style": style_rate([r.text for r in replies], contract.style_markers),
                    "stop": stop_rate([r.stopped for r in replies])})
        print(f"  {run.name} step {step}: {out[-1]}", flush=True)
    engine.release()
    return out


def last_elapsed(run: Path) -> float | None:
    """Training time of the run (its metrics: from the first step's start to the last step; loading not counted)."""
    from studio.jobs.runs import read_metrics
    times = [m["elapsed_s"] for m in read_metrics(run) if "loss" in m]
    return times[-1] if times else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", nargs="*", default=["padfree:60:10", "packed:20:2", "packed:30:3"])
    ap.add_argument("--target", type=float, default=0.8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--runs-dir", default=str(ROOT / "runs-bench-target"))
    args = ap.parse_args()
    rows = []
    for s in args.settings:
        run = train(Path(args.runs_dir), s)
        curve = scores(run, args.max_new_tokens)
        hit = next((c for c in curve if (c["style"] or 0) >= args.target), None)
        rows.append({"setting": s, "run": run.name, "train_s": last_elapsed(run),
                     "target_step": hit and hit["step"], "target_s": hit and hit["train_s"],
                     "stop_at_target": hit and hit["stop"], "final": curve[-1]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'setting':>14} {'run s':>7} {'to style>=' + str(args.target):>16} {'stop there':>10} "
          f"{'final style/stop':>17}")
    for r in rows:
        reach = f"step {r['target_step']}, {r['target_s']} s" if r["target_step"] else "not reached"
        print(f"{r['setting']:>14} {r['train_s']:>7} {reach:>16} {r['stop_at_target'] or '-':>10} "
              f"{r['final']['style']:.2f}/{r['final']['stop']:.2f}")


if __name__ == "__main__":
    main()
