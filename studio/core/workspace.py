"""Where the user's files live: $STUDIO_HOME (default ./workspace) holds personas/; runs/ per DESIGN.md; where the
package's own data is."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def home() -> Path:
    return Path(os.environ.get("STUDIO_HOME", "workspace")).resolve()


def personas_dir() -> Path:
    return home() / "personas"


def runs_dir(override: str | None = None) -> Path:
    return Path(override or os.environ.get("STUDIO_RUNS_DIR", "runs")).resolve()


def setups_dir() -> Path:
    """Saved training setups (studio.train.setups)."""
    return home() / "setups"
