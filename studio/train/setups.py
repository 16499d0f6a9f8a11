"""Saved training setups: every Train-tab setting under a name, as $STUDIO_HOME/setups/<name>.yaml, the same YAML
`python -m studio train --config` reads. The persona is not part of a setup (Start trains the one that is open).
No torch, no gradio."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.storage import atomic_write_text
from studio.core.workspace import setups_dir
from studio.data.library import safe_folder_name
from studio.train.config import TrainConfig

SUFFIX = ".yaml"


def list_setups() -> list[str]:
    folder = setups_dir()
    return sorted(p.stem for p in folder.glob(f"*{SUFFIX}") if p.is_file() and not p.is_symlink()) \
        if folder.is_dir() else []


def setup_file_stem(name: str) -> str:
    """The name as a file name, refused (not silently changed) when it holds what a file name cannot: two names that
    differ must never become one file, and a name never leaves the setups folder."""
    name = (name or "").strip()
    if not name:
        raise StudioError("setup.no_name")
    if not name.strip(". ") or safe_folder_name(name) != name:
        raise StudioError("setup.bad_name", name=name[:80])
    return name


def save_setup(name: str, cfg: TrainConfig) -> Path:
    """Writes the setup (replacing one of that name); the name becomes a file name inside the setups folder."""
    path = setups_dir() / f"{setup_file_stem(name)}{SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, replace(cfg, data="").to_yaml(), keep_backups=0)
    return path


def load_setup(name: str) -> TrainConfig:
    """A setup by its listed name only (never a path)."""
    if name not in list_setups():
        raise StudioError("setup.unknown", name=name, names=", ".join(list_setups()) or "-")
    return TrainConfig.load(setups_dir() / f"{name}{SUFFIX}")
