"""Blind A/B votes: a JSONL log, win rates per model pair, and export as a DPO preference dataset. No torch."""
from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

from studio.errors import StudioError
from studio.storage import atomic_write_text

VOTES = ("A", "B", "tie", "both_bad")


def assign_sides(first: str, second: str, rng: random.Random | None = None) -> tuple[str, str]:
    """Randomise which model is shown as A (left) and B (right)."""
    pair = [first, second]
    (rng or random.Random()).shuffle(pair)
    return pair[0], pair[1]


def record_vote(log: Path, vote: str, model_a: str, model_b: str, history: list[dict], prompt: str,
                answer_a: str, answer_b: str, settings: dict) -> dict:
    if vote not in VOTES:
        raise StudioError("err.votes.1", join=', '.join(VOTES))
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model_a": model_a, "model_b": model_b, "vote": vote,
             "history": history, "prompt": prompt, "answer_a": answer_a, "answer_b": answer_b, "settings": settings}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entry


def read_votes(log: Path) -> list[dict]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line after a crash
    return out


def win_rates(votes: list[dict]) -> list[dict]:
    """One row per unordered model pair: votes, wins of each, ties, both bad."""
    table: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(int))
    for v in votes:
        x, y = sorted((v["model_a"], v["model_b"]))
        row = table[(x, y)]
        row["n"] += 1
        winner = v["model_a"] if v["vote"] == "A" else v["model_b"] if v["vote"] == "B" else None
        row[v["vote"] if winner is None else ("wins_x" if winner == x else "wins_y")] += 1
    return [{"model_x": x, "model_y": y, "votes": r["n"], "x_win_rate": r["wins_x"] / r["n"],
             "y_win_rate": r["wins_y"] / r["n"], "ties": r["tie"], "both_bad": r["both_bad"]}
            for (x, y), r in sorted(table.items())]


def export_preferences(votes: list[dict], out: Path) -> int:
    """Write {"prompt", "chosen", "rejected"} JSONL (what trl's DPOTrainer reads); ties and 'both bad' are skipped."""
    lines = []
    for v in votes:
        if v["vote"] not in ("A", "B"):
            continue
        chosen, rejected = (v["answer_a"], v["answer_b"]) if v["vote"] == "A" else (v["answer_b"], v["answer_a"])
        lines.append(json.dumps({"prompt": v["prompt"], "chosen": chosen, "rejected": rejected}, ensure_ascii=False))
    if not lines:
        raise StudioError("err.votes.2")
    atomic_write_text(out, "\n".join(lines) + "\n", keep_backups=0)
    return len(lines)
