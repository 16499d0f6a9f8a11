"""CSV cells that are safe to open in a spreadsheet and that read back exactly. Standard library only.

A cell beginning with = + - @ (or a tab) is a formula to Excel and LibreOffice; one quote in
front makes it text. Cells that already begin with quotes before such a character get one more, so reading back
(removing one quote) restores every cell byte for byte."""
from __future__ import annotations

import csv
import re

MAX_CELL_CHARS = 100_000   # the longest cell the studio accepts; longer ones are refused at import, naming the row
_FORMULA = re.compile(r"'*[=+\-@\t]")


def neutralize(cell: str) -> str:
    """The cell as written to CSV: formula-safe, and with CR line ends as LF. A bare CR is not quoted by the csv
    module when the line terminator is LF, so it would split the row when read back (the importers read CR as a
    line end)."""
    cell = cell.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + cell if _FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell


def allow_long_cells() -> None:
    """csv's default field limit (131,072 characters) would make a saved persona with a long cell unreadable; raise
    it above what import accepts (a character is at most 4 bytes), so everything accepted can be read back."""
    if csv.field_size_limit() < MAX_CELL_CHARS * 4 + 1024:
        csv.field_size_limit(MAX_CELL_CHARS * 4 + 1024)
