"""Benchmark: replay shares on the embedded default model and the sample persona. For each setting it trains with
the device's default recipe, evaluates (held-out persona probe and the free-form knowledge probe) and prints
style, stop and free-form knowledge for base and tuned, with the training time. Sequential; on a 2-core CPU
each setting takes roughly 10-20 minutes.

    python -m bench.bench_replay                                   # replay 0, 0.25 (persona, none), 0.5 (persona)
    python -m bench.bench_replay --settings 0.25:none 0.4:none     # chosen settings only
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"


def studio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True)


def one(runs: Path, share: float, system: str) -> dict:
    started = time.perf_counter()
    out = studio("train", "--model", "default", "--data", str(DATA), "--runs-dir", str(runs),
                 "--replay-share", str(share), "--replay-system", system)
    took = time.perf_counter() - started
    if out.returncode:
        raise SystemExit(f"training failed:\n{out.stderr[-3000:]}")
    run = Path(out.stdout.strip().splitlines()[-1])
    from studio.jobs.status import read_status
    status = read_status(run)
    ev = studio("eval", "--run", str(run), "--runs-dir", str(runs), "--json")
    if ev.returncode:
        raise SystemExit(f"evaluation failed:\n{ev.stderr[-3000:]}")
    from studio.eval.results import EvalResults
    from studio.jobs.folders import Run
    res = EvalResults.load(Run(run).results)
    return {"share": share, "system": system, "train_s": round(took, 1),
            "train_only_s": round((status.finished or 0) - (status.started or 0), 1),
            **{f"{m}_{k}": res.metrics(m).get(k) for m in ("base", "tuned")
               for k in ("style_rate", "stop_rate", "freeform_score", "duplicate_share")}, "run": run.name}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", nargs="*", default=["0:none", "0.25:persona", "0.25:none", "0.5:persona"])
    ap.add_argument("--runs-dir", default=str(ROOT / "runs-bench-replay"))
    ap.add_argument("--out", help="append each result as a JSON line here")
    args = ap.parse_args()
    rows = []
    for s in args.settings:
        share, system = s.split(":")
        row = one(Path(args.runs_dir), float(share), system)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"\n{'replay':>12} {'style':>11} {'stop':>11} {'free-form':>11} {'train s':>8}")
    for r in rows:
        print(f"{r['share']:>5} {r['system']:>6} {r['base_style_rate']:.2f}/{r['tuned_style_rate']:.2f}"
              f"   {r['base_stop_rate']:.2f}/{r['tuned_stop_rate']:.2f}"
              f"   {r['base_freeform_score']:.2f}/{r['tuned_freeform_score']:.2f} {r['train_s']:>8}")


if __name__ == "__main__":
    main()
