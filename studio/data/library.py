"""The workspace's personas: their folders, safe folder names, and the samples copied in on first use."""
from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.workspace import PACKAGE_ROOT, personas_dir
from studio.data.persona import PAIRS_FILE, PERSONA_FILE

SAMPLE_PERSONAS = PACKAGE_ROOT / "data" / "personas"


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
    name = "".join(c for c in name if unicodedata.category(c) != "Cf")   # bidi overrides (U+202E), zero widths
    cleaned = re.sub(r"[\\/:*?\"<>|\x00-\x1f\x7f]+", "_", name.strip()).strip(". ")
    if not cleaned:
        raise StudioError("err.persona.no_name")
    cut = cleaned[:80]
    while len(cut.encode("utf-8")) > MAX_NAME_BYTES:  # file systems count bytes (255), not characters
        cut = cut[:-1]
    return cut.rstrip(". ")
