"""Load and save a persona folder (persona.yaml + pairs.csv) safely: atomic writes, backups, conflict detection."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from studio.core.errors import ConflictError, StudioError
from studio.core.stamp import new_stamped_folder
from studio.core.storage import YamlRefused, atomic_write_files, folder_lock, load_yaml, recover_folder
from studio.data.exporters import pairs_to_csv
from studio.data.importers import decode_bytes, import_file, import_table
from studio.data.persona import PAIRS_FILE, PERSONA_FILE, Persona, header_yaml, revision_of
from studio.locale import T, Text


def load_persona(path: str | Path) -> Persona:
    """A persona folder, or a bare CSV/TSV/JSONL/card file (then the persona header comes from the file)."""
    return load_persona_checked(path)[0]


def load_persona_checked(path: str | Path) -> tuple[Persona, list[Text]]:
    """load_persona, with the warnings reading it raised (an encoding guess, skipped lines) for the user."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    result = import_file(path)
    return Persona(name=result.name or path.stem, system_prompt=result.system_prompt or "",
                   notes=result.notes or "", pairs=result.pairs), list(result.warnings)


def load_persona_with_revision(folder: str | Path) -> tuple[Persona, str]:
    persona, rev, _ = load_persona_report(folder)
    return persona, rev


def load_persona_report(folder: str | Path) -> tuple[Persona, str, list[Text]]:
    """The persona, its revision and the warnings of reading it, in one locked read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudioError("err.not_persona_folder", folder=str(folder), yaml=PERSONA_FILE, csv=PAIRS_FILE)
    try:
        with folder_lock(folder):
            recover_folder(folder)
            persona, warnings = _load_folder(folder)
            return persona, revision_of(folder), warnings
    except PermissionError:
        if os.access(folder / PAIRS_FILE, os.R_OK) or os.access(folder / PERSONA_FILE, os.R_OK):
            persona, warnings = _load_folder(folder)  # a read-only folder opens for reading; saves will say why not
            return persona, revision_of(folder), [*warnings, T("w.read_only", folder=str(folder))]
        raise


def _load_folder(folder: Path) -> tuple[Persona, list[Text]]:
    yml, csv_path = folder / PERSONA_FILE, folder / PAIRS_FILE
    if not yml.exists() and not csv_path.exists():
        raise StudioError("err.not_persona_folder", folder=str(folder), yaml=PERSONA_FILE, csv=PAIRS_FILE)
    header = {}
    if yml.exists():
        try:
            header = load_yaml(yml.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, YamlRefused) as e:
            raise StudioError("err.bad_yaml", file=str(yml), reason=str(e).splitlines()[0],
                              backups=str(folder / ".backups")) from None
        except UnicodeDecodeError as e:
            raise StudioError("err.bad_yaml", file=str(yml), reason=f"not UTF-8 ({e.reason} at byte {e.start})",
                              backups=str(folder / ".backups")) from None
    pairs, warnings = [], []
    if csv_path.exists() and csv_path.stat().st_size:
        text, encoding = decode_bytes(csv_path.read_bytes(), str(csv_path))
        pairs = import_table(text, str(csv_path), delimiter=",", allow_empty=True).pairs
        if encoding != "utf-8":
            warnings.append(T("w.read_as", name=PAIRS_FILE, encoding=encoding.upper()))
    return Persona.from_header(header, pairs, source=str(yml)), warnings


def save_persona(persona: Persona, folder: str | Path, expected_revision: str | None = None,
                 backup_every_s: float = 0.0, own_revisions: frozenset[str] = frozenset()) -> str:
    """Write both files atomically and return the new revision.

    With `expected_revision`, refuse to overwrite a folder someone else changed since: the caller's version is
    kept in a conflict copy beside it, and ConflictError says where. backup_every_s thins the rolling backups
    for saves made on every keystroke. A revision in `own_revisions` was written by the same editor, so finding
    it on disk is no conflict (its saves may overtake each other).
    """
    folder = Path(folder)
    with folder_lock(folder):
        current = revision_of(folder)
        if expected_revision is not None and current != expected_revision and current not in own_revisions:
            copy = _new_conflict_folder(folder)
            atomic_write_files(copy, {PERSONA_FILE: header_yaml(persona).encode("utf-8"),
                                      PAIRS_FILE: pairs_to_csv(persona.pairs).encode("utf-8")})
            raise ConflictError("err.conflict", name=folder.name, copy=str(copy))
        atomic_write_files(folder, {PERSONA_FILE: header_yaml(persona).encode("utf-8"),
                                    PAIRS_FILE: pairs_to_csv(persona.pairs).encode("utf-8")}, backup_every_s)
        return revision_of(folder)


def _new_conflict_folder(folder: Path) -> Path:
    """conflicts/<time>, or <time>-2, -3...: several refused saves in one second each keep their own copy."""
    return new_stamped_folder(folder / "conflicts")
