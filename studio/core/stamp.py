"""Folders named by the time they were made: <YYYYmmdd-HHMMSS>[-label], with -2, -3… when one second holds several."""
from __future__ import annotations

import re
import time
from pathlib import Path


def slug(label: str, limit: int = 40) -> str:
    """A label fit for a folder name: words (Japanese included) and dashes."""
    return re.sub(r"[^\w-]+", "-", label, flags=re.UNICODE).strip("-")[:limit]


def new_stamped_folder(parent: Path, label: str = "") -> Path:
    """Create and return parent/<time>[-label]; never reuses a folder that exists (made atomically by mkdir)."""
    base = time.strftime("%Y%m%d-%H%M%S") + (f"-{label}" if label else "")
    path, n = parent / base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = parent / f"{base}-{n}"
