"""Group table rows into conversations: rows sharing a dialog_id, in order, are one multi-turn conversation."""
from __future__ import annotations

from studio.persona import QAPair


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
