"""Where the user's files live: $STUDIO_HOME (default ./workspace) holds personas/; runs/ per DESIGN.md."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from studio.errors import StudioError
from studio.data.persona import PAIRS_FILE, PERSONA_FILE

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PERSONAS = PACKAGE_ROOT / "data" / "personas"


def home() -> Path:
    return Path(os.environ.get("STUDIO_HOME", "workspace")).resolve()


def personas_dir() -> Path:
    return home() / "personas"


def runs_dir(override: str | None = None) -> Path:
    return Path(override or os.environ.get("STUDIO_RUNS_DIR", "runs")).resolve()


def list_personas() -> list[str]:
    """Persona folder names in the workspace; the sample personas are copied in on first use."""
    root = personas_dir()
    if not root.exists() or not any(root.iterdir()):
        root.mkdir(parents=True, exist_ok=True)
        for sample in SAMPLE_PERSONAS.iterdir():
            if sample.is_dir():
                shutil.copytree(sample, root / sample.name, ignore=shutil.ignore_patterns(".*", "conflicts"))
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and ((p / PERSONA_FILE).exists() or (p / PAIRS_FILE).exists()))


MAX_NAME_BYTES = 200   # a persona folder name, in UTF-8 bytes (80 characters at most); longer names are cut


def persona_path(name: str) -> Path:
    return personas_dir() / safe_folder_name(name)


def safe_folder_name(name: str) -> str:
    """A folder name from a persona name: keeps Japanese, drops path separators and control characters."""
    cleaned = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", name.strip()).strip(". ")
    if not cleaned:
        raise StudioError("err.workspace.1")
    cut = cleaned[:80]
    while len(cut.encode("utf-8")) > MAX_NAME_BYTES:  # file systems count bytes (255), not characters
        cut = cut[:-1]
    return cut.rstrip(". ")
