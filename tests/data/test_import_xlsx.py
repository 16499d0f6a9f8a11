"""Issue 26: Excel workbooks are read (the first sheet, values not formulas) instead of an English toast of gradio's;
files that cannot be read say why and what to do in the reader's language, naming the file; a workbook is a zip,
so its unpacked size is bounded before it is read."""
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.errors import StudioError
from studio.data import xlsx
from studio.data.importers import import_file

openpyxl = pytest.importorskip("openpyxl")


def workbook(path, sheets: dict[str, list[list]]):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def refused(path) -> StudioError:
    with pytest.raises(StudioError) as e:
        import_file(path)
    return e.value


def test_an_excel_sheet_with_japanese_headers_is_read_like_a_csv(tmp_path):
    path = workbook(tmp_path / "たま吉.xlsx", {
        "ペア": [[None, None], ["質問", "回答", "参考情報"], ["おすすめは？", "鯛焼きやで", None], [None, None],
                ["いくら？", 120, "=1+1"], ["3.0", 3.0, None]],
        "メモ": [["ignored"]]})
    result = import_file(path)
    assert result.source_format == "xlsx"
    assert [(p.question, p.answer, p.context) for p in result.pairs] == [
        ("おすすめは？", "鯛焼きやで", ""), ("いくら？", "120", ""), ("3.0", "3", "")]
    # a formula is never evaluated: its value as Excel last saved it is read (openpyxl saved none)
    assert [w.render("ja") for w in result.warnings] == ["たま吉.xlsx には 2 枚のシートがあります。最初のシートを読み"
                                                         "ました(別のシートを取り込むには、ペアを最初のシートに移してください)。"]


def test_unreadable_files_say_what_to_do_in_both_languages(tmp_path):
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    e = refused(old)
    assert "old.xls is an old, macro or binary Excel file (.xls" in e.render("en")
    assert "Excel で開いて .xlsx" in e.render("ja")
    renamed = tmp_path / "pairs.csv"
    workbook(tmp_path / "w.xlsx", {"s": [["question", "answer"], ["a", "b"]]}).rename(renamed)
    assert "pairs.csv is a zip archive" in refused(renamed).render("en")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("question,answer\na,b\n", encoding="utf-8")
    assert "fake.xlsx は Excel の .xlsx ブックではありません" in refused(fake).render("ja")
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"PK\x03\x04rest")
    assert refused(doc).render("ja").startswith("notes.docx: 末尾が .docx のファイルは読めません")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"question,answer\n\xff\xfe\xfa,x\n")
    ja = refused(bad).render("ja")
    assert "16 バイト目の 0xff で失敗" in ja and "fails" not in ja   # no English byte details in Japanese


def test_a_workbook_that_unpacks_past_the_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", b"\x00" * (4 * 2**20))   # 4 MB of zeros packs into a few KB
    assert path.stat().st_size < 64 * 1024
    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 2**20)
    assert "bomb.xlsx unpacks to 4 MB; at most 1 MB is read" in refused(path).render("en")


# openpyxl refuses to write the C0 controls Excel cannot hold; the rest of Unicode must come back as written
cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in range(32)]),
               min_size=1, max_size=40).filter(lambda t: t.strip() and not t.startswith("="))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cell, cell), min_size=1, max_size=5))
def test_any_text_cells_read_back_as_written(tmp_path, rows):
    path = workbook(tmp_path / "p.xlsx", {"s": [["question", "answer"], *map(list, rows)]})
    assert [(p.question, p.answer) for p in import_file(path).pairs] == rows
