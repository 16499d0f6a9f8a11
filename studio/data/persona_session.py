"""One browser session's editing of one persona: every change is saved at once, conflicts are detected.

No gradio here: the Persona tab only wires widgets to these functions, so they are tested directly.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import ConflictError, StudioError
from studio.core.findings import Finding
from studio.data.importers import import_file
from studio.data.persona import PROBE_FILE, Persona, StyleGuide
from studio.data.persona_store import load_persona_report, save_persona
from studio.data.rules import RULE_NAMES, comma_list, from_rows, pass_rates, rule_value
from studio.data.validate import validate_persona
from studio.locale import T, Text


@dataclass
class EditSession:
    folder: str = ""
    revision: str = ""
    persona: Persona = field(default_factory=Persona)
    selected: int | None = None      # 1-based row number selected in the table
    status: Text | str = ""          # last save result, shown to the user in their language
    # saves of one session are strictly ordered, and a revision this session wrote is never "someone else's"
    own_revisions: set[str] = field(default_factory=set, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def findings(self) -> list[Finding]:
        return validate_persona(self.persona)

    @property
    def saved(self) -> bool:
        """Did the last save succeed?"""
        return getattr(self.status, "key", "") == "persona.saved"

    @property
    def in_conflict(self) -> bool:
        """Was the last save refused because another tab saved first (the Overwrite button is then offered)?"""
        return getattr(self.status, "key", "") == "err.conflict"


def open_session(folder: str | Path) -> EditSession:
    persona, rev, warnings = load_persona_report(folder)
    notes = T("persona.import_notes", notes=tuple(warnings)) if warnings else ""
    return EditSession(folder=str(folder), revision=rev, persona=persona, own_revisions={rev},
                       status=T("persona.opened", name=Path(folder).name, rows=len(persona.pairs), notes=notes))


def create_session(folder: Path) -> EditSession:
    if folder.exists() and any(folder.iterdir()):
        raise StudioError("err.persona_exists", name=folder.name)
    persona = Persona(name=folder.name, style=StyleGuide())
    rev = save_persona(persona, folder, expected_revision="")
    return EditSession(folder=str(folder), revision=rev, persona=persona, own_revisions={rev},
                       status=T("persona.created", name=folder.name))


TYPING_BACKUP_EVERY_S = 60.0  # saves while typing keep one backup a minute, not one per keystroke


def save(session: EditSession, force: bool = False, typing: bool = False) -> EditSession:
    """Save the session's persona; on a conflict keep the edit in the session and say what happened."""
    if not session.folder:
        session.status = T("persona.none_open")
        return session
    with session.lock:
        try:
            session.revision = save_persona(session.persona, session.folder,
                                            expected_revision=None if force else session.revision,
                                            backup_every_s=TYPING_BACKUP_EVERY_S if typing else 0.0,
                                            own_revisions=frozenset(session.own_revisions))
            session.own_revisions.add(session.revision)
            session.status = T("persona.saved", time=time.strftime("%H:%M:%S"), rows=len(session.persona.pairs))
        except ConflictError as e:
            session.status = Text(e.key, e.params)
        except OSError as e:
            session.status = T("persona.save_failed", reason=e.strerror or str(e))
    return session


TEXT_FIELDS = ("name", "system_prompt", "notes", "rules", "markers")


def field_text(persona: Persona, field: str) -> str:
    """A text field of the persona as the tab shows it (markers comma-separated)."""
    if field == "markers":
        return ", ".join(persona.style.markers)
    return persona.style.rules if field == "rules" else getattr(persona, field)


def update_fields(session: EditSession, name: str | None, system_prompt: str | None, notes: str | None,
                  notes_in_prompt: bool | None, target_chars: float | int | None, rules: str | None,
                  markers: str | None) -> EditSession:
    """Apply the persona fields and save. A None value (a widget the page has not filled yet) keeps the current
    value: it never blanks a field."""
    p = session.persona
    keep = lambda value, field: field_text(p, field) if value is None else value  # noqa: E731
    p.name, p.system_prompt, p.notes = keep(name, "name"), keep(system_prompt, "system_prompt"), keep(notes, "notes")
    p.notes_in_prompt = p.notes_in_prompt if notes_in_prompt is None else bool(notes_in_prompt)
    try:
        target = p.style.target_chars if target_chars is None else int(target_chars)
    except (TypeError, ValueError):
        target = p.style.target_chars
    p.style = StyleGuide(target_chars=max(0, target), rules=keep(rules, "rules"),
                         markers=comma_list(keep(markers, "markers")))
    return save(session)


def set_text_field(session: EditSession, field: str, value: str | None) -> EditSession:
    """One text field changed while typing: apply it alone (other widgets may be stale) and save if it differs,
    with thinned backups."""
    p = session.persona
    if value is None or field_text(p, field) == value:
        return session
    if field == "markers":
        p.style.markers = comma_list(value)
    elif field == "rules":
        p.style.rules = value
    else:
        setattr(p, field, value)
    return save(session, typing=True)


def rules_rows(session: EditSession) -> list[list]:
    """The persona's rules as the tab's table: rule, on, value, the share of its own answers that keep it."""
    rules = session.persona.rules_of()
    rates = pass_rates([(p.answer, True) for p in session.persona.pairs if p.answer.strip()], rules)
    return [[rule, rule not in rules.disabled, rule_value(rules, rule),
             "" if rates.get(rule) is None else f"{rates[rule]:.0%}"] for rule in RULE_NAMES]


def set_rules(session: EditSession, rows: list[tuple[str, bool, str]] | None) -> EditSession:
    """The rules as edited in the table (None: back to the rules found in the answers), saved; a value that cannot
    be read keeps the rules as they were and says which rule."""
    if rows is None:
        session.persona.rules = None
        return save(session)
    try:
        session.persona.rules = from_rows(rows)
    except ValueError as e:
        session.status = T("persona.rule_unreadable", rule=T(f"rule.{e}") if str(e) in RULE_NAMES else str(e))
        return session
    return save(session)


def import_into(session: EditSession, path: str, mode: str) -> EditSession:
    """Import a file, replacing or appending rows; a failed import leaves the persona untouched."""
    try:
        result = import_file(path)
    except StudioError as e:
        session.status = T("persona.import_failed", reason=e)
        return session
    p = session.persona
    new, repeated = list(result.pairs), 0
    if mode != "replace":   # appending the same file twice must not double the table: exact repeats are left out
        have = {tuple(x.content_row()) for x in p.pairs}
        new = [x for x in result.pairs if tuple(x.content_row()) not in have]
        repeated = len(result.pairs) - len(new)
    p.pairs = new if mode == "replace" else p.pairs + new
    if result.name:  # a character card fills the persona itself
        p.name = result.name
    if result.system_prompt and (mode == "replace" or not p.system_prompt):
        p.system_prompt = result.system_prompt
    if result.notes:
        p.notes = result.notes
    session = save(session)
    notes = [*result.warnings, *([T("persona.import_repeats", n=repeated)] if repeated else [])]
    session.status = T("persona.imported", rows=len(new), source=result.source_format,
                       saved=session.status, notes=T("persona.import_notes", notes=tuple(notes)) if notes else "")
    return session


def read_probe(session: EditSession) -> str:
    """The probe questions as text, in whatever encoding the file was saved (Shift_JIS from Excel too: what the
    evaluation reads is what the box shows, so a keystroke never replaces a file the box showed empty)."""
    from studio.data.importers import decode_bytes
    try:
        return decode_bytes((Path(session.folder) / PROBE_FILE).read_bytes(), PROBE_FILE)[0]
    except (OSError, StudioError):
        return ""


def save_probe(session: EditSession, text: str) -> Text:
    """Save the persona's probe questions (blank lines dropped); says how many, or why it could not."""
    from studio.core.storage import atomic_write_text
    questions = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        atomic_write_text(Path(session.folder) / PROBE_FILE, "".join(q + "\n" for q in questions),
                          backup_every_s=TYPING_BACKUP_EVERY_S)
    except OSError as e:
        return T("persona.save_failed", reason=e.strerror or str(e))
    trained = {p.question.strip() for p in session.persona.pairs}
    overlap = sum(q in trained for q in questions)
    return T("persona.probe_saved", n=len(questions), time=time.strftime("%H:%M:%S"),
             overlap=T("persona.probe_overlap", n=overlap) if overlap else "")
