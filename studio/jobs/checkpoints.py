"""A run's checkpoints: which exist, which are whole, which a resume would use."""
from __future__ import annotations

import re
from pathlib import Path

from studio.core.integrity import checkpoint_problem
from studio.jobs.folders import Run


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint folder, newest first."""
    found = []
    for p in Run(run).checkpoints.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def damaged_checkpoints(run: Path) -> list[tuple[str, str]]:
    """(name, problem) of the checkpoints newer than the one resume would use: they are skipped."""
    out = []
    for _, p in checkpoints(run):
        problem = checkpoint_problem(p)
        if problem is None:
            break
        out.append((p.name, problem))
    return out


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint whose files are whole (one half-written by a kill or a full disk is skipped)."""
    return next((p for _, p in checkpoints(run) if checkpoint_problem(p) is None), None)
