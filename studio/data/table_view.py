"""The Persona tab's table as a filtered/sorted *view* over the rows, mapped back by row number. No gradio.

The first column "#" is the 1-based row number in the persona; edits made in a filtered or sorted view are
written back to those rows, so searching or sorting never reorders the data (row order defines dialogs).
"""
from __future__ import annotations

import re

from studio.data.persona import COLUMNS, QAPair

VIEW_COLUMNS = ["#", *COLUMNS]
SORTS = ("row", "question", "answer", "answer length", "dialog_id", "drafted")


def view_rows(pairs: list[QAPair], query: str = "", sort: str = "row") -> list[list]:
    q = query.strip().lower()
    rows = [[i, *p.as_row()] for i, p in enumerate(pairs, start=1)
            if not q or any(q in cell.lower() for cell in p.as_row())]
    if sort == "answer length":
        rows.sort(key=lambda r: len(r[2]))
    elif sort in COLUMNS:
        rows.sort(key=lambda r: r[1 + COLUMNS.index(sort)])
    return rows


def apply_view(pairs: list[QAPair], rows: list[list]) -> list[QAPair]:
    """Write edited view rows back; rows with no (or an unknown) number are new and go at the end."""
    out = [QAPair(**vars(p)) for p in pairs]
    for r in rows:
        r = list(r) + [""] * (len(VIEW_COLUMNS) - len(r))
        cells = [_text(c) for c in r[1:len(VIEW_COLUMNS)]]
        num = _row_number(r[0])
        pair = QAPair(cells[0], cells[1], cells[2], cells[3].strip(), cells[4].strip())
        if num is not None and 1 <= num <= len(out):
            out[num - 1] = pair
        elif any(c.strip() for c in cells):
            out.append(pair)
    return out


def _text(cell) -> str:
    if cell is None or (isinstance(cell, float) and cell != cell):  # None or NaN from a blank new row
        return ""
    return str(cell)


def _row_number(value) -> int | None:
    """The '#' cell as a row number; anything else ('inf', 'abc', 1e400, 2.5) is no row number."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None


def insert_row(pairs: list[QAPair], after: int | None) -> tuple[list[QAPair], int]:
    """A blank row after row `after` (1-based) or at the end; returns the new row's number."""
    out = list(pairs)
    at = len(out) if after is None or not 1 <= after <= len(out) else after
    blank = QAPair("", "", "", out[at - 1].dialog_id if 0 < at < len(out) and
                   out[at - 1].dialog_id and out[at].dialog_id == out[at - 1].dialog_id else "")
    out.insert(at, blank)
    return out, at + 1


def duplicate_row(pairs: list[QAPair], row: int) -> list[QAPair]:
    out = list(pairs)
    out.insert(row, QAPair(**vars(pairs[row - 1])))
    return out


def delete_row(pairs: list[QAPair], row: int) -> list[QAPair]:
    return [p for i, p in enumerate(pairs, start=1) if i != row]


def parse_rows(text: str, n: int) -> list[int] | None:
    """Row numbers as people write them — '3-7, 12', '3〜7、12' — within 1..n, in order, each once; None when the
    text holds anything else (or a number outside the table), so nothing is deleted on a typo."""
    rows: set[int] = set()
    for part in re.split(r"[,、\s]+", (text or "").strip()):
        if not part:
            continue
        m = re.fullmatch(r"(\d{1,7})(?:\s*[-〜~ー–]\s*(\d{1,7}))?", part)
        if not m:
            return None
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= first <= last <= n:
            return None
        rows.update(range(first, last + 1))
    return sorted(rows) or None


def delete_rows(pairs: list[QAPair], rows: list[int]) -> list[QAPair]:
    gone = set(rows)
    return [p for i, p in enumerate(pairs, start=1) if i not in gone]
