"""Files people share — saved setups, run configs, persona headers, workbooks, card pictures — cost a bounded amount
of memory and time before they are refused with a sentence naming them. Hostile files are generated here; memory
and time are bounded by the test (a child process with an address-space limit and a timeout), not measured."""
import io
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from studio.core.errors import StudioError
from studio.train.config import TrainConfig

BOMB = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    model: *h
    system_prompt: *h
    """)


def bounded(code: str, mem_mb: int = 1500, seconds: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a child Python whose address space and time are capped (a blow-up fails, never hangs)."""
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb * 2**20, mem_mb * 2**20))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=seconds,
                          preexec_fn=limit)


def test_a_setup_or_config_built_from_yaml_aliases_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    assert len(BOMB) < 500
    done = bounded(f"""
from studio.core.errors import StudioError
from studio.train.config import TrainConfig
try:
    TrainConfig.load({str(path)!r})
except StudioError as e:
    print(e.render("en")); print(e.render("ja"))
""", seconds=30)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bomb.yaml" in done.stdout and "aliases" in done.stdout and "設定ファイル" in done.stdout


def test_the_train_command_refuses_a_bomb_config_in_one_sentence(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(BOMB, encoding="utf-8")
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "studio", "train", "--config", str(path), "--runs-dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "run.yaml" in done.stderr and "Traceback" not in done.stderr
    assert time.time() - started < 60 and not (tmp_path / "runs").exists()


def test_a_persona_header_with_aliases_is_refused_naming_it(tmp_path):
    from studio.data.persona_store import load_persona
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "persona.yaml").write_text("name: &n 綾乃\nsystem_prompt: *n\n", encoding="utf-8")
    with pytest.raises(StudioError) as e:
        load_persona(tmp_path / "p")
    assert "persona.yaml" in e.value.render("en") and "aliases" in e.value.render("en")


@pytest.mark.parametrize("key,value,kind", [
    ("model", ["a", "b"], "text"), ("system_prompt", {"x": 1}, "text"), ("template", 3, "text"),
    ("lora_r", [1], "a whole number"), ("packing", {"a": 1}, "true or false"), ("target_modules", [1, 2], "texts"),
])
def test_a_setting_of_the_wrong_kind_names_the_setting_and_the_file(tmp_path, key, value, kind):
    import yaml
    path = tmp_path / "setup.yaml"
    path.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    with pytest.raises(StudioError) as e:
        TrainConfig.load(path)
    text = e.value.render("en")
    assert str(path) in text and f"setting {key} must be" in text and kind in text, text
    assert "設定 " + key in e.value.render("ja")


def test_the_train_tab_loads_a_bomb_setup_with_a_message_and_stays_responsive(tmp_path, monkeypatch):
    from gradio_client import Client

    from tests.conftest import launch_app
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "ws" / "setups").mkdir(parents=True)
    (tmp_path / "ws" / "setups" / "shared.yaml").write_text(BOMB, encoding="utf-8")
    demo, url = launch_app()
    try:
        c = Client(url, verbose=False)
        started = time.time()
        *_, message = c.predict("shared", api_name="/load_setup")
        assert "shared.yaml" in message and "aliases" in message and time.time() - started < 30
        assert c.predict("shared", api_name="/list_setups")["value"] == "shared"   # the app still answers
    finally:
        demo.close()


# --- Excel workbooks -------------------------------------------------------------------------------------------------

def _patched_xlsx(path, sheet_xml: str | None = None, strings_xml: str | None = None):
    """A real workbook (openpyxl) whose sheet or shared strings are replaced by the given XML."""
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["question", "answer"])
    book.active.append(["q", "a"])
    buf = io.BytesIO()
    book.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if sheet_xml is not None and item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            dst.writestr(item, data)
        if strings_xml is not None:
            dst.writestr("xl/sharedStrings.xml", strings_xml)
    path.write_bytes(out.getvalue())
    return path


SHEET = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
         '2006/main"><dimension ref="{dim}"/><sheetData>{rows}</sheetData></worksheet>')


def _row(n: int, cells: str) -> str:
    return f'<row r="{n}">{cells}</row>'


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _import_bounded(path, mem_mb=1200, seconds=60) -> str:
    done = bounded(f"""
from studio.core.errors import StudioError
from studio.data.importers import import_file
try:
    r = import_file({str(path)!r})
    print("rows", len(r.pairs))
except StudioError as e:
    print(e.render("en"))
""", mem_mb=mem_mb, seconds=seconds)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_workbook_declaring_a_huge_sheet_is_read_as_the_cells_it_has(tmp_path):
    rows = _row(1, _cell("A1", "question") + _cell("B1", "answer")) + _row(2, _cell("A2", "q") + _cell("B2", "a"))
    path = _patched_xlsx(tmp_path / "wide.xlsx", SHEET.format(dim="A1:XFD100000", rows=rows))
    assert "rows 1" in _import_bounded(path)


def test_a_cell_far_to_the_right_on_every_row_costs_no_more_than_the_first_columns(tmp_path):
    rows = _row(1, _cell("A1", "question") + _cell("B1", "answer")) + "".join(
        _row(n, _cell(f"A{n}", f"q{n}") + _cell(f"B{n}", "a") + _cell(f"XFD{n}", "x")) for n in range(2, 20_002))
    path = _patched_xlsx(tmp_path / "far.xlsx", SHEET.format(dim="A1:XFD20001", rows=rows))
    assert "rows 20000" in _import_bounded(path, seconds=120)


def test_a_workbook_with_megabytes_of_shared_strings_is_refused_before_reading(tmp_path, monkeypatch):
    from studio.data import xlsx
    from studio.data.importers import import_file
    monkeypatch.setattr(xlsx, "MAX_STRINGS_BYTES", 100_000)
    strings = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               + "<si><t>a</t></si>" * 20_000 + "</sst>")
    path = _patched_xlsx(tmp_path / "strings.xlsx", strings_xml=strings)
    with pytest.raises(StudioError) as e:
        import_file(path)
    assert e.value.key == "err.xlsx.too_many_strings" and "strings.xlsx" in e.value.render("en")


def test_a_macro_workbook_is_refused_with_what_to_do(tmp_path):
    from studio.data.importers import import_file
    path = _patched_xlsx(tmp_path / "macros.xlsm")
    with pytest.raises(StudioError) as e:
        import_file(path)
    assert "macros.xlsm" in e.value.render("en") and ".xlsx" in e.value.render("ja")


# --- card pictures ----------------------------------------------------------------------------------------------------

def _animated_gif(path, frames: int):
    from PIL import Image
    first = Image.new("P", (64, 64))
    first.save(path, save_all=True, append_images=[Image.new("P", (64, 64), i % 255) for i in range(frames)],
               duration=1, loop=0, optimize=False, format="GIF")
    return path


@pytest.mark.parametrize("name,fmt", [("a.gif", "GIF"), ("a.tiff", "TIFF"), ("a.bmp", "BMP"), ("photo.png", "GIF"),
                                      ("photo.png", "TIFF")])
def test_only_png_jpeg_and_webp_are_opened_as_card_pictures(tmp_path, name, fmt):
    from PIL import Image

    from studio.data.card_image import preview
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / name, format=fmt)
    with pytest.raises(StudioError) as e:
        preview(tmp_path / name)
    assert e.value.key == "err.card.avatar_unreadable" and name in e.value.render("ja")


def test_an_eps_is_never_handed_to_ghostscript(tmp_path, monkeypatch):
    import PIL.EpsImagePlugin

    from studio.data.card_image import preview
    called = []
    monkeypatch.setattr(PIL.EpsImagePlugin, "Ghostscript", lambda *a, **k: called.append(1))
    (tmp_path / "art.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(StudioError):
        preview(tmp_path / "art.png")
    assert not called


def test_an_animated_png_shows_its_first_frame_only(tmp_path):
    from PIL import Image

    from studio.data.card_image import preview
    frames = [Image.new("RGB", (40, 60), (0, 200, 0))] + [Image.new("RGB", (40, 60), (200, 0, 0))] * 50
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    assert preview(tmp_path / "anim.png").getpixel((200, 300))[1] > 150


def test_the_merge_tab_refuses_an_animated_gif_before_decoding_its_frames(tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    from tests.conftest import launch_app
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    gif = _animated_gif(tmp_path / "avatar.png", 2000)   # a GIF under a picture's name (a .gif is refused by gradio)
    demo, url = launch_app()
    try:
        c = Client(url, verbose=False)
        started = time.time()
        message, shown = c.predict(handle_file(str(gif)), api_name="/card_image")
        assert "avatar.png" in message and shown is None and time.time() - started < 30
        c.predict("ja", api_name="/set_language")
        message, _ = c.predict(handle_file(str(gif)), api_name="/card_image")
        assert "画像として読めません" in message
    finally:
        demo.close()
