"""A run's character card: the persona it trained on (or another persona folder), with the run's contract, written
where the run's exports go. Used by the Merge tab and `studio card`."""
from __future__ import annotations

import json
from pathlib import Path

from studio.data.card_export import write_card
from studio.data.persona_store import load_persona
from studio.jobs.folders import resolve_run


def run_contract(ref: str, runs_dir: Path) -> dict | None:
    run = resolve_run(ref, runs_dir)
    return json.loads(run.contract.read_text(encoding="utf-8")) if run.contract.exists() else None


def write_run_card(ref: str, runs_dir: Path, out: str | Path | None = None, data: str | Path | None = None,
                   examples: int = 8, avatar: str | Path | None = None) -> Path:
    """Write the card (PNG or JSON by `out`'s suffix; default <run>/export/<run>-card.png, showing `avatar` when
    given, else the character's name); returns its path."""
    run = resolve_run(ref, runs_dir)
    target = Path(out) if out else run.export / f"{run.id}-card.png"
    return Path(write_card(load_persona(data or run.data), target, examples, run_contract(ref, runs_dir),
                           avatar))
