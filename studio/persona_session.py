"""One browser session's editing of one persona: every change is saved at once, conflicts are detected.

No gradio here: the Persona tab only wires widgets to these functions, so they are tested directly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import ConflictError, StudioError
from studio.findings import Finding
from studio.importers import import_file
from studio.persona import Persona, StyleGuide
from studio.persona_store import load_persona_with_revision, save_persona
from studio.validate import validate_persona


@dataclass
class EditSession:
    folder: str = ""
    revision: str = ""
    persona: Persona = field(default_factory=Persona)
    selected: int | None = None      # 1-based row number selected in the table
    status: str = ""                 # last save result, shown to the user

    @property
    def findings(self) -> list[Finding]:
        return validate_persona(self.persona)


def open_session(folder: str | Path) -> EditSession:
    persona, rev = load_persona_with_revision(folder)
    return EditSession(folder=str(folder), revision=rev, persona=persona,
                       status=f"Opened {Path(folder).name}: {len(persona.pairs)} rows.")


def create_session(folder: Path) -> EditSession:
    if folder.exists() and any(folder.iterdir()):
        raise StudioError(f"A persona named {folder.name!r} already exists; pick it from the list or use another name.")
    persona = Persona(name=folder.name, style=StyleGuide())
    rev = save_persona(persona, folder, expected_revision="")
    return EditSession(folder=str(folder), revision=rev, persona=persona, status=f"Created {folder.name}.")


def save(session: EditSession, force: bool = False) -> EditSession:
    """Save the session's persona; on a conflict keep the edit in the session and say what happened."""
    if not session.folder:
        session.status = "No persona is open; pick one or create one first."
        return session
    try:
        session.revision = save_persona(session.persona, session.folder,
                                        expected_revision=None if force else session.revision)
        session.status = f"Saved at {time.strftime('%H:%M:%S')}: {len(session.persona.pairs)} rows."
    except ConflictError as e:
        session.status = str(e)
    except OSError as e:
        session.status = (f"Could not save ({e.strerror or e}). Your edits are still on this page; "
                          "free some disk space or fix the folder's permissions, then edit again to retry.")
    return session


def update_fields(session: EditSession, name: str, system_prompt: str, notes: str, notes_in_prompt: bool,
                  target_chars: float | int | None, rules: str, markers: str) -> EditSession:
    p = session.persona
    p.name, p.system_prompt, p.notes, p.notes_in_prompt = name, system_prompt, notes, bool(notes_in_prompt)
    try:
        target = int(target_chars or 0)
    except (TypeError, ValueError):
        target = p.style.target_chars
    p.style = StyleGuide(target_chars=max(0, target), rules=rules,
                         markers=[m.strip() for m in markers.replace("、", ",").split(",") if m.strip()])
    return save(session)


def import_into(session: EditSession, path: str, mode: str) -> EditSession:
    """Import a file, replacing or appending rows; a failed import leaves the persona untouched."""
    try:
        result = import_file(path)
    except StudioError as e:
        session.status = f"Nothing was imported: {e}"
        return session
    p = session.persona
    p.pairs = list(result.pairs) if mode == "replace" else p.pairs + list(result.pairs)
    if result.name:  # a character card fills the persona itself
        p.name = result.name
    if result.system_prompt and (mode == "replace" or not p.system_prompt):
        p.system_prompt = result.system_prompt
    if result.notes:
        p.notes = result.notes
    session = save(session)
    session.status = (f"Imported {len(result.pairs)} rows ({result.source_format}). " + session.status +
                      "".join(f" Note: {w}" for w in result.warnings))
    return session
