"""The picture of a character card: the user's own image fitted to the portrait SillyTavern shows, or, without one,
the character's name drawn on a plain background. An image is content: its size and pixel count are bounded before
it is decoded, and anything Pillow cannot read is refused naming the file."""
from __future__ import annotations

import io
from pathlib import Path

from studio.core.errors import StudioError

SIZE = (400, 600)                      # SillyTavern's portrait shape (2:3)
BACKGROUND = (236, 222, 240)
INK = (74, 48, 96)
MAX_BYTES = 20 * 1024 * 1024           # an avatar file larger than this is refused unread
MAX_PIXELS = 40_000_000                # and one that decodes to more pixels (a decompression bomb)
# The formats a card picture may be in, and no others: Pillow would otherwise hand an .eps to Ghostscript, decode
# every frame of a GIF, or read TIFF/BMP that the README does not promise. Only the first frame of an animated
# PNG or WebP is ever decoded.
FORMATS = ("PNG", "JPEG", "WEBP")
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Fonts with Japanese glyphs where the usual systems keep them (Linux Noto/IPA, Windows, macOS); the first found wins.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "C:/Windows/Fonts/meiryo.ttc", "C:/Windows/Fonts/YuGothM.ttc", "C:/Windows/Fonts/msgothic.ttc",
    "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc", "/System/Library/Fonts/Hiragino Sans GB.ttc",
)


def read_avatar(path: str | Path) -> bytes:
    """The bytes of an avatar file, refused (naming it) when it is not a file or too large to be a picture."""
    path = Path(path)
    if not path.is_file():
        raise StudioError("err.card.avatar_missing", name=path.name)
    if path.suffix.lower() not in SUFFIXES:
        raise StudioError("err.card.avatar_unreadable", name=path.name)
    if path.stat().st_size > MAX_BYTES:
        raise StudioError("err.card.avatar_large", name=path.name, mb=MAX_BYTES // (1024 * 1024))
    return path.read_bytes()


def _fitted(raw: bytes, name: str):
    from PIL import Image, ImageOps
    if len(raw) > MAX_BYTES:
        raise StudioError("err.card.avatar_large", name=name, mb=MAX_BYTES // (1024 * 1024))
    try:
        try:
            img = Image.open(io.BytesIO(raw), formats=FORMATS)
        except Image.DecompressionBombError:   # Pillow's own limit, far above ours
            img = None
        if img is None or img.width * img.height > MAX_PIXELS:
            raise StudioError("err.card.avatar_pixels", name=name, limit=MAX_PIXELS // 1_000_000)
        img.seek(0)   # the first frame of an animation, and only it
        img = ImageOps.exif_transpose(img).convert("RGB")
    except StudioError:
        raise
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for a file that is not a picture
        raise StudioError("err.card.avatar_unreadable", name=name) from None
    return ImageOps.fit(img, SIZE, method=Image.Resampling.LANCZOS)


def _font(size: int):
    from PIL import ImageFont
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size)   # Latin only: a Japanese name may show as boxes (README says which fonts)


def _name_plate(name: str):
    from PIL import Image, ImageDraw
    img = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(img)
    text = name.strip()[:40] or "?"
    size = 72
    while size > 16:   # the largest size at which the name fits across the card
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= SIZE[0] - 80:
            break
        size -= 4
    draw.rectangle((20, 20, SIZE[0] - 21, SIZE[1] - 21), outline=INK, width=3)
    draw.text((SIZE[0] / 2, SIZE[1] / 2), text, font=font, fill=INK, anchor="mm")
    return img


def preview(path: str | Path | None):
    """The avatar as the card will show it (for the picker's preview), checked as the card checks it."""
    return None if not path else _fitted(read_avatar(path), Path(path).name)


def portrait(name: str, avatar: bytes | None = None, avatar_name: str = "avatar") -> object:
    """The card's picture (a PIL image): the avatar fitted to 400x600 when given, else the name on a plate."""
    return _fitted(avatar, avatar_name) if avatar is not None else _name_plate(name)
