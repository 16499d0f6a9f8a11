"""Group table rows into conversations: rows sharing a dialog_id, in order, are one multi-turn conversation."""
from __future__ import annotations

from dataclasses import dataclass, field

from studio.data.persona import QAPair

REFERENCE_HEADER = "[参考情報]"  # the reference-notes block appended to the system part (documented in README)


def group_dialogs(pairs: list[QAPair]) -> list[list[tuple[int, QAPair]]]:
    """[[(row_number, pair), ...], ...] with 1-based rows; a row without dialog_id is its own conversation.

    Rows of one dialog_id are grouped where the id first appears, even if other rows sit between them
    (validation reports that as an error, since it is almost always a copy-paste slip).
    """
    groups: list[list[tuple[int, QAPair]]] = []
    by_id: dict[str, list[tuple[int, QAPair]]] = {}
    for row, pair in enumerate(pairs, start=1):
        key = pair.dialog_id.strip()
        if not key:
            groups.append([(row, pair)])
        elif key in by_id:
            by_id[key].append((row, pair))
        else:
            by_id[key] = [(row, pair)]
            groups.append(by_id[key])
    return groups


@dataclass
class Conversation:
    system: str
    turns: list[tuple[str, str]]          # (user, assistant) in order
    rows: list[int] = field(default_factory=list)  # 1-based table rows, one per turn

    def messages(self, upto: int | None = None, with_last_answer: bool = True) -> list[dict]:
        """OpenAI-style messages for turns[:upto]; the last answer dropped when with_last_answer is False."""
        turns = self.turns if upto is None else self.turns[:upto]
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        for i, (u, a) in enumerate(turns):
            msgs.append({"role": "user", "content": u})
            if with_last_answer or i < len(turns) - 1:
                msgs.append({"role": "assistant", "content": a})
        return msgs


def system_with_context(system: str, notes: str = "", context: str = "") -> str:
    """The system part: the persona's prompt, then a reference block with the notes and the row's context."""
    refs = "\n".join(x.strip() for x in (notes, context) if x and x.strip())
    if not refs:
        return system
    return f"{system}\n\n{REFERENCE_HEADER}\n{refs}" if system else f"{REFERENCE_HEADER}\n{refs}"


def conversations_from_persona(persona) -> list[Conversation]:
    """One Conversation per single row or dialog; the first row's context joins the persona notes."""
    convs = []
    for group in group_dialogs(persona.pairs):
        first = group[0][1]
        notes = persona.notes if persona.notes_in_prompt else ""
        convs.append(Conversation(system=system_with_context(persona.system_prompt, notes, first.context),
                                  turns=[(p.question, p.answer) for _, p in group], rows=[r for r, _ in group]))
    return convs
