"""Benchmark: learning from votes with a simulated voter. From an SFT run of the sample persona (the device's
default recipe), the run answers the persona's training questions twice (sampled); a scripted voter prefers by a
rule the SFT data does not teach — one sentence of about 30 characters, the seed persona's own length instruction —
and its votes (the studio's votes file, with each side's contract) train DPO and KTO runs with the defaults. Every
run then answers the 35 held-out probe questions greedily: the voter's rule satisfied, style and stop rates, and
`studio eval`'s free-form knowledge score; plus training time (the run's own, from its status file).

    python -m bench.bench_prefs [--parent RUN] [--runs-dir DIR] [--methods dpo kto] [--steps N] [--lr LR] [--loss L]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"
TARGET, BAND = 30, 10   # the voter's rule: one sentence of 20-40 characters


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[。！？!?])", text.strip()) if s.strip()])


def voter_score(text: str) -> float:
    """Lower is better: distance from 30 characters, and 20 per extra sentence."""
    return abs(len(text.strip()) - TARGET) + 20 * max(sentences(text) - 1, 0)


def satisfies(text: str) -> bool:
    return sentences(text) == 1 and abs(len(text.strip()) - TARGET) <= BAND


def studio(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"studio {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def train_sft(runs: Path) -> Path:
    from studio.train.recipes import recipe
    cfg = recipe("default")
    cfg.data = str(DATA)
    path = Path(tempfile.mkdtemp(prefix="bench-prefs-")) / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    return Path(studio("train", "--config", str(path), "--runs-dir", str(runs)).strip().splitlines()[-1])


def answers(run: Path, questions: list[str], settings) -> list:
    from studio.format.contract import Contract
    from studio.jobs.folders import Run
    from studio.serve.chat import ChatEngine, Row
    adapter = Run(run).adapter
    contract = Contract.load(adapter)
    engine = ChatEngine(contract.base_model_path)
    engine.add_adapter("tuned", adapter)
    out = []
    for i in range(0, len(questions), 8):
        out += engine.generate([Row("tuned", contract, [], q) for q in questions[i:i + 8]], settings)
    engine.release()
    return out


def simulated_votes(parent: Path, out: Path, seed: int = 0) -> dict:
    """Two sampled replies per training question; the voter picks the one nearer its rule (equal scores: no vote)."""
    from studio.data.persona_store import load_persona
    from studio.format.contract import Contract
    from studio.jobs.folders import Run
    from studio.serve.chat import GenSettings
    from studio.serve.chat_session import side
    from studio.serve.votes import record_vote
    questions = sorted({p.question for p in load_persona(DATA).pairs})
    contract = Contract.load(Run(parent).adapter)
    first = answers(parent, questions, GenSettings(temperature=0.9, top_p=0.95, max_new_tokens=64, seed=seed))
    second = answers(parent, questions, GenSettings(temperature=0.9, top_p=0.95, max_new_tokens=64, seed=seed + 1))
    rng, n = random.Random(seed), 0
    name = f"run:{parent.name}"
    for q, a, b in zip(questions, first, second):
        sa, sb = voter_score(a.text), voter_score(b.text)
        if sa == sb or not a.stopped or not b.stopped:
            continue
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        vote = "A" if voter_score(left.text) < voter_score(right.text) else "B"
        record_vote(out, vote, name, name, [[], []], q, left.text, right.text, {"temperature": 0.9},
                    [side(name, contract), side(name, contract)])
        n += 1
    return {"questions": len(questions), "votes": n}


def measure(run: Path, runs: Path) -> dict:
    """The table row for one run; kept in the run folder (bench.json) so a sweep measures its parent once."""
    kept = run / "bench.json"
    if kept.exists():
        return json.loads(kept.read_text(encoding="utf-8"))
    from studio.eval.prompts import read_prompts
    from studio.jobs.status import read_status
    from studio.serve.chat import GenSettings
    probes = [p.question for p in read_prompts(DATA / "probe.txt")]
    replies = answers(run, probes, GenSettings(max_new_tokens=64))
    res = json.loads(studio("eval", "--run", str(run), "--runs-dir", str(runs), "--json"))
    status = read_status(run)
    row = {"rule": sum(satisfies(r.text) for r in replies if r.stopped) / len(replies),
            "style": res["tuned"]["style_rate"], "stop": res["tuned"]["stop_rate"],
            "freeform": res["tuned"]["freeform_score"], "median_chars": sorted(len(r.text) for r in replies)[
                len(replies) // 2],
            "train_s": round((status.finished or 0) - (status.started or 0), 1)}
    kept.write_text(json.dumps(row), encoding="utf-8")
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parent", help="an SFT run to start from (default: train one)")
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--methods", nargs="+", default=["dpo", "kto"])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--loss", default=None, help="a loss type (--loss-type), e.g. sigmoid+sft")
    args = ap.parse_args()
    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="bench-prefs-runs-"))
    studio("prepare-model")
    t0 = time.time()
    parent = Path(args.parent) if args.parent else train_sft(runs)
    print(f"parent {parent} ({time.time() - t0:.0f} s)", flush=True)
    votes = runs / "votes.jsonl"
    if not votes.exists():
        print(json.dumps(simulated_votes(parent, votes)), flush=True)
    table = {"sft": measure(parent, runs)}
    print("sft", table["sft"], flush=True)
    for method in args.methods:
        extra = [*(["--max-steps", str(args.steps)] if args.steps else []),
                 *(["--learning-rate", str(args.lr)] if args.lr else []),
                 *(["--loss-type", args.loss] if args.loss else [])]
        child = Path(studio("train", "--method", method, "--from", str(parent), "--preferences", str(votes),
                            "--runs-dir", str(runs), *extra).strip().splitlines()[-1])
        label = " ".join([method, *([f"lr {args.lr:g}"] if args.lr else []),
                          *([f"{args.steps} steps"] if args.steps else []), *([args.loss] if args.loss else [])])
        table[label] = measure(child, runs)
        print(label, table[label], flush=True)
    print("| run | voter's rule | style | stop | free-form | median chars | training s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in table.items():
        print(f"| {name} | {r['rule']:.3f} | {r['style']:.3f} | {r['stop']:.3f} | {r['freeform']:.3f} | "
              f"{r['median_chars']} | {r['train_s']} |")


if __name__ == "__main__":
    main()
