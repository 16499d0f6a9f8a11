"""Benchmark: improvement rounds on the default model. From a finished SFT run of the sample persona (copied, so the
original's results stay), `studio improve` runs with the settings given (the defaults unless told), and the SFT run
and every kept round then answer the 30 held-out questions in data/eval/heldout_questions.txt (not in the persona's
data, its probe file or the improvement pool) greedily: style-marker rate, every persona rule kept, stop rate,
replies distinct (1 - the share repeating another), distinct-2, endings per sentence, median length, and
`studio eval`'s free-form knowledge. Wall time of each round (sampling, DPO training, evaluation) from the command.

    python -m bench.bench_improve --from RUN [--rounds N] [--samples K] [--general G] [--max-steps S] [--lr LR]
                                  [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ROOT / "data" / "eval" / "heldout_questions.txt"   # (also the rounds' fallback: improve.HELD_OUT_FILE)


def studio(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"studio {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    sys.stderr.write(out.stderr[-2000:])
    return out.stdout


def held_out_row(run: Path, runs: Path) -> dict:
    """The run's adapter on the held-out questions, and its free-form knowledge (from the run's own evaluation)."""
    from studio.data.persona_store import load_persona
    from studio.eval.results import EvalResults
    from studio.jobs.folders import Run
    from studio.train.improve import kept_share, markers_per_sentence
    studio("eval", "--run", str(run), "--runs-dir", str(runs), "--prompts", str(HELD_OUT))
    res = EvalResults.load(Run(run).results)
    rules = load_persona(Run(run).data).rules_of()
    texts = [a.tuned for a in res.answers]
    return {"run": run.name, "style": res.tuned.get("style_rate"), "stop": res.tuned.get("stop_rate"),
            "rules_kept": kept_share(texts, [a.tuned_stopped for a in res.answers], rules),
            "distinct_replies": 1 - (res.tuned.get("duplicate_share") or 0.0),
            "distinct_2": res.tuned.get("distinct_2"), "markers_per_sentence": markers_per_sentence(texts, rules),
            "median_length": res.tuned.get("median_length"), "freeform": res.tuned.get("freeform_score"),
            "replies": texts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--samples", type=int)
    ap.add_argument("--general", type=int)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="bench-improve-")) / "runs"
    start = runs / Path(a.start).name
    shutil.copytree(a.start, start, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    rows = [held_out_row(start, runs) | {"round_s": None}]
    given = (("samples", a.samples), ("general", a.general), ("max_steps", a.max_steps), ("lr", a.lr))
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in given if v is not None]
    t0 = time.monotonic()
    out = studio("improve", "--from", str(start), "--runs-dir", str(runs), "--rounds", str(a.rounds), "--json", *extra)
    took = time.monotonic() - t0
    rounds = json.loads(out[:out.rindex("]") + 1])
    for r in rounds:
        if r["kept"]:
            rows.append(held_out_row(runs / r["child"], runs) | {"round_s": took / len(rounds)})
    if a.json:
        print(json.dumps({"rounds": rounds, "rows": rows, "improve_s": took}, ensure_ascii=False, indent=1))
        return
    print(f"improve: {len(rounds)} round(s), {took:.0f} s; " +
          "; ".join(f"round {r['index']}: {r['pairs']} pairs, {'kept' if r['kept'] else r['failed']}" for r in rounds))
    keys = ("style", "rules_kept", "stop", "distinct_replies", "distinct_2", "markers_per_sentence",
            "median_length", "freeform")
    print("run".ljust(34) + "".join(k[:12].rjust(13) for k in keys))
    for row in rows:
        print(row["run"].ljust(34) + "".join(
            ("-" if row[k] is None else f"{row[k]:.2f}").rjust(13) for k in keys))


if __name__ == "__main__":
    main()
