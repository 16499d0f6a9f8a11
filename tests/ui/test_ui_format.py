"""The Format tab through gradio_client: render, token view, Doctor findings and an auto-fix."""
import pytest

from tests.conftest import launch_app

pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from tests.tiny_toks import chatml  # noqa: E402


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    chatml().save_pretrained(tmp_path / "tok")
    demo, url = launch_app()
    yield url, tmp_path
    demo.close()


def test_render_token_view_and_fix(app):
    url, tmp = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    out = c.predict(str(tmp / "tok"), "llama2", 512, "responses", False, 0, 1, api_name="/render")
    status, text, view, findings = out[0], out[1], out[2], out[3]
    assert "136 examples from 143 rows" in status
    assert text.startswith("<|im_start|>[INST] <<SYS>>")  # llama2 text, BOS spelled as this tokenizer spells it
    assert 'class="t' in view and 'class="m' in view and "title=\"#0 id" in view
    codes = [r[1] for r in findings["data"]]
    assert "TEMPLATE_MISMATCH" in codes
    fixed = c.predict("TEMPLATE_MISMATCH", str(tmp / "tok"), "llama2", 512, "responses", False,
                      0, 1, "", "answer length", api_name="/apply_fix")
    assert fixed[7] == "model" and "TEMPLATE_MISMATCH" not in str(fixed[3]["data"])
    assert fixed[1].startswith("<|im_start|>system\n")
    exported = c.predict(api_name="/export_rendered_jsonl")
    assert '"labels"' in open(exported, encoding="utf-8").readline()


def test_bad_tokenizer_folder_keeps_the_tab_usable(app):
    url, tmp = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    out = c.predict(str(tmp / "nope"), "llama2", 512, "responses", False, 0, 1, api_name="/render")
    assert "no such folder" in out[0]
    out = c.predict(str(tmp / "tok"), "model", 512, "responses", False, 0, 1, api_name="/render")
    assert "136 examples" in out[0]


def test_html_in_cells_is_escaped_in_the_token_view(app):
    url, tmp = app
    c = Client(url, verbose=False)
    table = c.predict("ayano", "", "row", api_name="/open_persona")[7]
    table["data"][0][2] = "<img src=x onerror=alert(1)>ですわ"
    c.predict(table, api_name="/edit_table")
    view = c.predict(str(tmp / "tok"), "model", 512, "responses", False, 0, 1, api_name="/render")[2]
    assert "<img" not in view and "&lt;" in view


def test_replay_rows_are_previewed_and_marked(app):
    url, tmp = app
    c = Client(url, verbose=False)
    c.predict("ayano", "", "row", api_name="/open_persona")
    out = c.predict(str(tmp / "tok"), "model", 512, "responses", False, 0.25, 1, api_name="/render")
    assert "45 replay rows (rows 144–188)" in out[0]      # 136 examples at a share of 0.25 -> 45 replay rows
    text, view = c.predict(144, api_name="/show_row")
    assert "Replay row 1" in view and "the base model's own answer" in text
    text, view = c.predict(1, api_name="/show_row")
    assert "Replay row" not in view


def test_an_autofix_that_changes_rows_keeps_the_persona_tabs_search_and_sort(tmp_path):
    """Issue 26: after an auto-fix the Persona tab got its rows back in row order while its sort box still said
    'answer length', and its statistics were the old ones."""
    import shutil

    from studio.data import persona_session as ps
    from studio.data.persona import QAPair
    from studio.ui.format_tab import apply_fix, run
    from tests.conftest import SAMPLE
    from tests.tiny_toks import sp
    folder = tmp_path / "ayano"
    shutil.copytree(SAMPLE, folder)
    session = ps.open_session(folder)
    session.persona.pairs.append(QAPair("やあ", "ごきげんよう、とても長い返事をいたしますわ</s>"))
    session = ps.save(session)
    sp().save_pretrained(tmp_path / "tok")
    args = [str(tmp_path / "tok"), "llama2", 512, "responses", False, 0, 1]
    st = run(session, *args, None, "en")[6]
    assert "EOS_SPLIT" in [f.code for f in st["result"].findings]
    out = apply_fix("EOS_SPLIT: strip", session, *args, st, "", "answer length", "en")
    table, _, _, stats, _ = out[-5:]
    lengths = [len(r[2]) for r in table.values.tolist()]
    assert lengths == sorted(lengths) and "</s>" not in str(table.values.tolist())
    assert stats.startswith(f"rows: {len(session.persona.pairs)} ·")
