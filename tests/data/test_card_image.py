"""The character card's picture (issue 26: every card was a blank lavender rectangle): the user's image fitted to the
portrait, or the character's name drawn; a picture is content, bounded and refused by name when unreadable."""
import io
import struct
import zlib

import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.data.card_export import write_card
from studio.data.card_image import BACKGROUND, SIZE
from studio.data.importers import import_file
from studio.data.persona import Persona, QAPair

PERSONA = Persona(name="桜小路綾乃", system_prompt="お嬢様として答えて",
                  pairs=[QAPair("ごきげんよう", "ごきげんよう、ですわ。")])


def _png(path, size, colour):
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def test_without_an_image_the_card_shows_the_name_not_a_blank_plate(tmp_path):
    out = write_card(PERSONA, tmp_path / "card.png")
    img = Image.open(out).convert("RGB")
    assert img.size == SIZE
    ink = sum(1 for x in range(0, SIZE[0], 2) for y in range(250, 350, 2) if img.getpixel((x, y)) != BACKGROUND)
    assert ink > 200, "no name drawn across the middle of the card"
    assert import_file(out).name == PERSONA.name   # still a card our importer (and SillyTavern) reads


def test_an_image_is_fitted_to_the_portrait_and_the_card_still_reads_back(tmp_path):
    wide = Image.new("RGB", (900, 300), (200, 30, 30))
    wide.paste((30, 30, 200), (0, 0, 300, 300))     # a blue left third: cropped away by the centred fit
    src = tmp_path / "綾乃.jpg"
    wide.save(src, format="JPEG", quality=95)
    out = write_card(PERSONA, tmp_path / "card.png", avatar=src)
    img = Image.open(out).convert("RGB")
    r, g, b = img.getpixel((SIZE[0] // 2, SIZE[1] // 2))
    assert img.size == SIZE and r > 150 and g < 80 and b < 80
    assert import_file(out).system_prompt == PERSONA.system_prompt


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims a huge size in its header (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name,content,key", [
    ("notes.png", b"this is text, not a picture", "err.card.avatar_unreadable"),
    ("bomb.png", _header_only_png(20000, 20000), "err.card.avatar_pixels"),   # past Pillow's own limit
    ("tall.png", _header_only_png(1000, 50000), "err.card.avatar_pixels"),    # past ours only
    ("empty.png", b"", "err.card.avatar_unreadable"),
])
def test_a_file_that_is_not_a_usable_picture_is_refused_naming_it(tmp_path, name, content, key):
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(StudioError) as e:
        write_card(PERSONA, tmp_path / "card.png", avatar=bad)
    assert e.value.key == key and name in e.value.render("ja")
    assert not (tmp_path / "card.png").exists()


def test_a_picture_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    from studio.data import card_image
    monkeypatch.setattr(card_image, "MAX_BYTES", 1024)
    big = _png(tmp_path / "big.png", (300, 300), (1, 2, 3))
    big.write_bytes(big.read_bytes() + bytes(2048))
    with pytest.raises(StudioError) as e:
        write_card(PERSONA, tmp_path / "card.png", avatar=big)
    assert e.value.key == "err.card.avatar_large"


def test_the_merge_tab_writes_a_card_with_the_chosen_picture_and_explains_a_bad_one(tmp_path, monkeypatch):
    from studio.data.persona_store import save_persona
    from studio.jobs.folders import new_run_folder
    from studio.ui import merge_tab
    runs = tmp_path / "runs"
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(runs))
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "ws"))
    run = new_run_folder(runs, "a")
    save_persona(PERSONA, run.data)
    message, file = merge_tab.write_card_file(run.id, str(_png(tmp_path / "face.png", (600, 900), (10, 200, 10))),
                                              "ja")
    card = run.path / "export" / f"{run.id}-card.png"
    assert "書き" in message and Image.open(card).convert("RGB").getpixel((200, 300))[1] > 150
    (tmp_path / "broken.png").write_bytes(b"nope")
    message, file = merge_tab.write_card_file(run.id, str(tmp_path / "broken.png"), "ja")
    assert "broken.png" in message and "画像として読めません" in message
    assert io.BytesIO(card.read_bytes()).getbuffer().nbytes > 0   # the earlier card is still there
