"""Blind A/B votes: a JSONL log, win rates per model pair, and export as a DPO preference dataset. No torch."""
from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jsonl import append_jsonl, dumps_line, read_jsonl, rewrite_jsonl
from studio.core.storage import atomic_write_text
from studio.core.workspace import home
from studio.data.preferences import from_votes, vote_preference

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
    with _locked(log):
        append_jsonl(log, [entry])
    return entry


def record_rating(log: Path, model: str, good: bool, history: list, prompt: str, answer: str, settings: dict,
                  side: dict | None = None) -> dict:
    """A thumbs up or down on one reply (unpaired: what KTO learns from)."""
    entry = {"id": uuid.uuid4().hex[:12], "kind": "rating", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "model": model, "label": bool(good), "history": history, "prompt": prompt, "answer": answer,
             "settings": settings, "side": side or {}}
    with _locked(log):
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
        if v["model_a"] == v["model_b"]:   # a pick among one model's candidates: no model won
            continue
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
        lines.append(dumps_line({"prompt": v["prompt"], "chosen": chosen, "rejected": rejected}))
    if not lines:
        raise StudioError("err.votes.none_yet")
    atomic_write_text(out, "\n".join(lines) + "\n", keep_backups=0)
    return len(lines)


@contextmanager
def _locked(log: Path):
    """One writer at a time on the votes log (appends from every tab, rewrites from the Preferences view)."""
    import fcntl
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log.with_name(log.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _id_of(record: dict) -> str | None:
    """A record's id, or None when it has none (such a record is never matched by an id)."""
    rid = record.get("id")
    return rid.strip() or None if isinstance(rid, str) else None


def delete_votes(log: Path, ids: list[str]) -> int:
    """Remove the votes and ratings with these ids; returns how many went (other lines stay as they were)."""
    wanted = {str(i).strip() for i in ids if i is not None and str(i).strip()}
    if not wanted:
        return 0
    with _locked(log):
        return rewrite_jsonl(log, lambda r: None if _id_of(r) in wanted else r)


def edit_chosen(log: Path, vote_id: str, text: str) -> int:
    """Replace the chosen reply of a pair vote (or the reply of a rating) with an edited one, marked as edited."""
    if not isinstance(text, str) or not text.strip():
        raise StudioError("err.votes.empty_edit")
    wanted = str(vote_id or "").strip()
    if not wanted:
        raise StudioError("err.votes.no_such_vote", id=vote_id)

    def change(r: dict) -> dict:
        if _id_of(r) != wanted:
            return r
        if r.get("kind") == "rating":
            r["answer"] = text
        elif r.get("vote") in ("A", "B"):
            r["answer_a" if r["vote"] == "A" else "answer_b"] = text
        else:
            raise StudioError("err.votes.not_a_pair", id=vote_id)
        r["edited"] = True
        return r
    with _locked(log):
        if not rewrite_jsonl(log, change):
            raise StudioError("err.votes.no_such_vote", id=vote_id)
    return 1


def vote_rows(votes: list[dict], query: str = "") -> list[list]:
    """The Preferences view: id, kind, persona, question, chosen (or the rated reply), rejected (or 👍/👎); only the
    records preference training can use (every cell text)."""
    rows = []
    for v in votes:
        p = vote_preference(v)
        if p is None:
            continue
        if p.paired:
            row = [p.source, "pair", p.persona, p.prompt, p.chosen, p.rejected]
        else:
            row = [p.source, "rating", p.persona, p.prompt, p.completion, "👍" if p.label else "👎"]
        if not query or any(query in cell for cell in row):
            rows.append(row)
    return rows


def vote_counts(votes: list[dict]) -> tuple[int, int]:
    """(A/B pairs, 👍/👎 ratings) that preference training can use."""
    prefs = from_votes(votes)
    pairs = sum(p.paired for p in prefs)
    return pairs, len(prefs) - pairs


def training_fields(choices: list[str], votes: list[dict]) -> dict | None:
    """What 'Train on these votes' puts in the Train tab: the method (DPO for A/B pairs, KTO when there are only
    ratings), the run the votes were about (its adapter is the start and the reference) and the votes file."""
    pairs, ratings = vote_counts(votes)
    run = next((c.split(":", 1)[1] for c in choices if c.startswith("run:")), None)
    if run is None or not (pairs or ratings):
        return None
    return {"method": "dpo" if pairs else "kto", "parent_run": run, "preferences": str(votes_path())}
