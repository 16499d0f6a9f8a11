"""The persona: a character, its style guide and its Q&A pairs. No torch, no gradio.

A persona lives in a folder: persona.yaml (the character) + pairs.csv (the table), both UTF-8, so it diffs well.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from studio.core.errors import StudioError
from studio.data.rules import PersonaRules, derive

PERSONA_FILE = "persona.yaml"
PAIRS_FILE = "pairs.csv"
PROBE_FILE = "probe.txt"  # held-out questions for evaluation: one per line, never trained
COLUMNS = ("question", "answer", "context", "dialog_id", "drafted")

# Sentence-final forms and first person of お嬢様 speech; each persona can set its own.
OJOUSAMA_MARKERS = ["わたくし", "ですわ", "ますわ", "でしたわ", "ましたわ", "ませんわ", "ですの", "ますの", "ましたの",
                    "ませんの", "ましてよ", "よろしくて", "ございます", "かしら", "ごきげんよう", "なさいませ",
                    "くださいな", "存じます"]


@dataclass
class QAPair:
    question: str
    answer: str
    context: str = ""     # reference notes for this row; may be irrelevant to the question
    dialog_id: str = ""   # rows sharing an id, in order, form one multi-turn conversation
    drafted: str = ""     # the model that drafted this row (accepted in the review), '' = written by a person

    def as_row(self) -> list[str]:
        return [self.question, self.answer, self.context, self.dialog_id, self.drafted]

    def content_row(self) -> list[str]:
        """What training sees (the data hash): the drafted mark is bookkeeping, not content."""
        return [self.question, self.answer, self.context, self.dialog_id]


@dataclass
class StyleGuide:
    target_chars: int = 30                                  # target reply length in characters
    rules: str = ""                                         # free-text rules for authors
    markers: list[str] = field(default_factory=list)        # style markers (sentence endings, first person)


@dataclass
class Persona:
    name: str = "New persona"
    system_prompt: str = ""
    notes: str = ""                 # facts about the character, optionally given to the model as context
    notes_in_prompt: bool = True    # policy: put `notes` into the system part of every prompt
    style: StyleGuide = field(default_factory=StyleGuide)
    pairs: list[QAPair] = field(default_factory=list)
    rules: PersonaRules | None = None   # None: derived from the answers when asked (rules_of)

    def header_dict(self) -> dict:
        """Everything but the pairs, as saved in persona.yaml (rules only when the persona has its own)."""
        d = asdict(self)
        d.pop("pairs")
        if d["rules"] is None:
            d.pop("rules")
        return d

    def rules_of(self) -> PersonaRules:
        """Its own rules, or the rules its answers show (markers, first person, length band, language)."""
        return self.rules if self.rules is not None else derive([p.answer for p in self.pairs], self.style.markers)

    @classmethod
    def from_header(cls, data: dict, pairs: list[QAPair] | None = None, source: str = PERSONA_FILE) -> Persona:
        if not isinstance(data, dict):
            raise StudioError("err.persona.not_mapping", source=source)
        known = {f.name for f in fields(cls)} - {"pairs", "style", "rules"}
        unknown = sorted(set(data) - known - {"style", "version", "rules"})
        if unknown:
            raise StudioError("err.persona.unknown_fields", source=source, join=", ".join(unknown),
                              join2=", ".join(sorted(known | {"style", "rules"})))
        style = data.get("style") or {}
        if not isinstance(style, dict):
            raise StudioError("err.persona.style_not_mapping", source=source)
        try:
            target = int(style.get("target_chars", 30))
        except (TypeError, ValueError):
            raise StudioError("err.persona.target_not_int", source=source) from None
        markers = style.get("markers") or []
        if not isinstance(markers, list):
            raise StudioError("err.persona.markers_not_list", source=source)
        rules = None
        if data.get("rules") is not None:
            try:
                rules = PersonaRules.from_dict(data["rules"])
            except ValueError as e:
                raise StudioError("err.persona.rules_field", source=source, field=str(e)) from None
        return cls(
            name=str(data.get("name") or "New persona"),
            system_prompt=str(data.get("system_prompt") or ""),
            notes=str(data.get("notes") or ""),
            notes_in_prompt=bool(data.get("notes_in_prompt", True)),
            style=StyleGuide(target_chars=target, rules=str(style.get("rules") or ""),
                             markers=[str(m) for m in markers if str(m)]),
            pairs=list(pairs or []), rules=rules,
        )


def header_yaml(persona: Persona) -> str:
    data = {"version": 1, **persona.header_dict()}
    from studio.core.storage import dump_yaml
    return dump_yaml(data)


def revision_of(folder: Path) -> str:
    """A short hash of the persona's files as they are on disk ('' when none exist yet)."""
    h = hashlib.sha256()
    found = False
    for name in (PERSONA_FILE, PAIRS_FILE):
        p = Path(folder) / name
        if p.exists():
            found = True
            h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16] if found else ""
