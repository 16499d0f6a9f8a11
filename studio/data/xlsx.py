"""Excel workbooks (.xlsx) as tables: the first sheet's rows as text, read with openpyxl (read-only, values not
formulas). A workbook is a zip, so its unpacked size is bounded before anything is read: a small upload must not
become unbounded work. No torch, no gradio."""
from __future__ import annotations

import io
import zipfile

from studio.core.errors import StudioError

XLSX_SUFFIXES = (".xlsx",)
OLD_EXCEL_SUFFIXES = (".xls", ".xlsm", ".xlsb")   # refused with "save as .xlsx or CSV" (old, macro, binary)
MAX_UNPACKED_BYTES = 50 * 1024 * 1024    # the sum of the zip's members, as declared in its directory
MAX_STRINGS_BYTES = 20 * 1024 * 1024     # the shared strings, which openpyxl reads whole before the first row
MAX_ROWS = 100_000
MAX_COLUMNS = 26   # A..Z: a persona table has five columns; a sheet declaring XFD (16,384) is read to Z, no further


def _text(value) -> str:
    """A cell as the user sees it: numbers without a trailing .0, dates as ISO, blanks empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def read_xlsx(raw: bytes, name: str) -> tuple[list[list[str]], int]:
    """(rows of the first sheet as text, how many sheets the workbook has). Raises StudioError naming the file."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            members = z.infolist()
    except zipfile.BadZipFile:
        raise StudioError("err.xlsx.not_workbook", name=name) from None
    unpacked = sum(i.file_size for i in members)
    strings = sum(i.file_size for i in members if i.filename.lower().endswith("sharedstrings.xml"))
    if unpacked > MAX_UNPACKED_BYTES:
        raise StudioError("err.xlsx.too_big", name=name, size=unpacked / 2**20, max=MAX_UNPACKED_BYTES // 2**20)
    if strings > MAX_STRINGS_BYTES:
        raise StudioError("err.xlsx.too_many_strings", name=name, size=strings / 2**20, max=MAX_STRINGS_BYTES // 2**20)
    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True, keep_links=False)
    except Exception as e:  # noqa: BLE001 - any reason openpyxl refuses is a file the user must re-save
        raise StudioError("err.xlsx.unreadable", name=name, reason=str(e)[:200]) from None
    try:
        sheets = len(book.worksheets)
        if not sheets:
            raise StudioError("err.import.empty", name=name)
        rows = []
        sheet = book.worksheets[0]
        sheet.reset_dimensions()   # the declared size ("A1:XFD100000") is the file's word, not its content
        for n, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
            if n > MAX_ROWS:
                raise StudioError("err.xlsx.too_many_rows", name=name, max=MAX_ROWS)
            rows.append([_text(v) for v in row])
    finally:
        book.close()
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)                       # blank lines above the header
    if not rows:
        raise StudioError("err.import.empty", name=name)
    width = max((i + 1 for r in rows for i, c in enumerate(r) if c.strip()), default=0)
    return [r[:width] + [""] * (width - len(r)) for r in rows], sheets
