"""The Persona tab through gradio_client against the launched app."""
import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    from studio.ui.app import build_app
    demo, i18n = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", i18n=i18n, quiet=True)
    yield url, tmp_path / "ws"
    demo.close()


def test_open_edit_autosave_and_conflict(app):
    url, ws = app
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    ra = a.predict("ayano", "", "row", api_name="/open_persona")
    b.predict("ayano", "", "row", api_name="/open_persona")
    assert "143 rows" in ra[8]
    table = ra[7]
    table["data"][0][2] = "ごきげんよう, \"編集\" ですわ。\n二行目"
    status = a.predict(table, api_name="/edit_table")[0]
    assert status.startswith("Saved at")
    assert "ごきげんよう, \"\"編集\"\" ですわ。\n二行目" in (ws / "personas/ayano/pairs.csv").read_text(encoding="utf-8")
    # the second tab still holds the old revision: its save must not overwrite the first tab's edit
    tb = b.predict("", "row", api_name="/filter_view")
    tb["data"][1][2] = "B's edit"
    status_b = b.predict(tb, api_name="/edit_table")[0]
    assert "changed in another tab" in status_b
    text = (ws / "personas/ayano/pairs.csv").read_text(encoding="utf-8")
    assert "二行目" in text and "B's edit" not in text
    assert "B's edit" in next((ws / "personas/ayano/conflicts").glob("*/pairs.csv")).read_text(encoding="utf-8")


def test_filtered_view_edits_write_back_to_the_right_row(app):
    url, ws = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    view = c.predict("シャルロット", "row", api_name="/filter_view")
    assert len(view["data"]) >= 1
    row_no = view["data"][0][0]
    view["data"][0][2] = "シャルロットは世界一の猫ですわ。"
    c.predict(view, api_name="/edit_table")
    full = c.predict("", "row", api_name="/filter_view")["data"]
    assert full[row_no - 1][2] == "シャルロットは世界一の猫ですわ。" and len(full) == 143


def test_bad_import_keeps_data_and_card_import_fills_persona(app, tmp_path):
    url, ws = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    r = c.predict(handle_file(str(bad)), "replace", "", "row", api_name="/import_file")
    assert "Nothing was imported" in r[8] and "Found columns: 'foo', 'bar'" in r[8]
    assert len(r[7]["data"]) == 143

    created = c.predict("テスト", "", "row", api_name="/create_persona")
    assert created[0]["value"] == "テスト" and created[9] == "Created テスト."
    card = tmp_path / "card.json"
    card.write_text('{"spec": "chara_card_v2", "data": {"name": "麗華", "description": "令嬢", '
                    '"mes_example": "<START>\\n{{user}}: やあ\\n{{char}}: ごきげんよう。"}}', encoding="utf-8")
    r = c.predict(handle_file(str(card)), "replace", "", "row", api_name="/import_file")
    assert r[0] == "麗華" and r[7]["data"] == [[1, "やあ", "ごきげんよう。", "", ""]]
    assert "Imported 1 rows" in r[8]
    out = c.predict(api_name="/export_jsonl")
    assert "ごきげんよう。" in open(out, encoding="utf-8").read()


def test_row_operations(app):
    url, _ = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    r = c.predict(2, "", "row", api_name="/row_dup")
    assert len(r[0]["data"]) == 144 and r[0]["data"][1][1:] == r[0]["data"][2][1:] and r[5] == 3
    assert "DUPLICATE" in str(r[2]["data"])
    r = c.predict(3, "", "row", api_name="/row_delete")
    assert len(r[0]["data"]) == 143 and "DUPLICATE" not in str(r[2]["data"])
    r = c.predict(None, "", "row", api_name="/row_add")
    assert r[0]["data"][-1][1:] == ["", "", "", ""] and "EMPTY_QUESTION" in str(r[2]["data"])
