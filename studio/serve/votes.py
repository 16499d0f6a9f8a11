"""Blind A/B votes: a JSONL log, win rates per model pair, and export as a DPO preference dataset. No torch."""
from __future__ import annotations

import json
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jsonl import append_jsonl, read_jsonl
from studio.core.storage import atomic_write_text
from studio.core.workspace import home

VOTES = ("A", "B", "tie", "both_bad")
SETTINGS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", "seed")  # kept with a vote


def votes_path() -> Path:
    """The workspace's one votes log (every browser session appends to it)."""
    return home() / "votes.jsonl"


def assign_sides(first: str, second: str, rng: random.Random | None = None) -> tuple[str, str]:
    """Randomise which model is shown as A (left) and B (right)."""
    pair = [first, second]
    (rng or random.Random()).shuffle(pair)
    return pair[0], pair[1]


def record_vote(log: Path, vote: str, model_a: str, model_b: str, history: list, prompt: str,
                answer_a: str, answer_b: str, settings: dict, sides: list[dict] | None = None) -> dict:
    """One A/B vote with what re-rendering it needs: each side's contract (persona, template, system prompt) and
    conversation so far (`history`: one list of [user, reply] turns per side), the settings and an id."""
    if vote not in VOTES:
        raise StudioError("err.votes.unknown_vote", join=', '.join(VOTES))
    entry = {"id": uuid.uuid4().hex[:12], "kind": "pair", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "model_a": model_a, "model_b": model_b, "vote": vote, "history": history, "prompt": prompt,
             "answer_a": answer_a, "answer_b": answer_b, "settings": settings, "sides": sides or []}
    append_jsonl(log, [entry])
    return entry


def record_rating(log: Path, model: str, good: bool, history: list, prompt: str, answer: str, settings: dict,
                  side: dict | None = None) -> dict:
    """A thumbs up or down on one reply (unpaired: what KTO learns from)."""
    entry = {"id": uuid.uuid4().hex[:12], "kind": "rating", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "model": model, "label": bool(good), "history": history, "prompt": prompt, "answer": answer,
             "settings": settings, "side": side or {}}
    append_jsonl(log, [entry])
    return entry


def read_votes(log: Path) -> list[dict]:
    return read_jsonl(log)  # a torn last line after a crash is skipped


def pair_votes(votes: list[dict]) -> list[dict]:
    """The A/B votes of a log (ratings and records of another shape are left out)."""
    keys = ("model_a", "model_b", "vote", "prompt", "answer_a", "answer_b")
    return [v for v in votes if v.get("kind", "pair") == "pair" and all(isinstance(v.get(k), str) for k in keys)
            and v["vote"] in VOTES]


def win_rates(votes: list[dict]) -> list[dict]:
    """One row per unordered model pair: votes, wins of each, ties, both bad."""
    table: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(int))
    for v in pair_votes(votes):
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
    for v in pair_votes(votes):
        if v["vote"] not in ("A", "B"):
            continue
        chosen, rejected = (v["answer_a"], v["answer_b"]) if v["vote"] == "A" else (v["answer_b"], v["answer_a"])
        lines.append(json.dumps({"prompt": v["prompt"], "chosen": chosen, "rejected": rejected}, ensure_ascii=False))
    if not lines:
        raise StudioError("err.votes.none_yet")
    atomic_write_text(out, "\n".join(lines) + "\n", keep_backups=0)
    return len(lines)
