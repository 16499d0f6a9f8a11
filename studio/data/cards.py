"""SillyTavern character cards (V1/V2/V3 JSON, and PNG with a `chara`/`ccv3` text chunk). Standard library only.

Spec: https://github.com/malfoyslastname/character-card-spec-v2 and https://github.com/kwaroran/character-card-spec-v3
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import zlib
from dataclasses import dataclass, field

from studio.core.errors import StudioError
from studio.data.persona import QAPair
from studio.locale import T, Text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Card:
    spec: str
    name: str
    system_prompt: str
    notes: str
    pairs: list[QAPair]
    warnings: list[Text] = field(default_factory=list)


CARD_KEYS = ("ccv3", "chara")
MAX_INFLATED = 20 * 1024 * 1024   # a card's text, once decompressed; a larger one is refused (decompression bomb)


def _inflate(data: bytes, name: str, key: str) -> bytes:
    """Decompress at most MAX_INFLATED bytes: a small chunk that would inflate to gigabytes is refused at once."""
    d = zlib.decompressobj()
    out = d.decompress(data, MAX_INFLATED)
    if d.unconsumed_tail:
        raise StudioError("err.cards.bomb", name=name, chunk=key, limit=MAX_INFLATED // 2**20)
    return out


def png_text_chunks(raw: bytes, name: str, keys: tuple[str, ...] = CARD_KEYS) -> dict[str, str]:
    """The tEXt, zTXt and iTXt chunks named in `keys`, as {keyword: text}; other chunks are never decompressed."""
    if not raw.startswith(PNG_SIGNATURE):
        raise StudioError("err.card.not_png", name=name)
    out: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(raw):
        length, ctype = struct.unpack(">I4s", raw[pos:pos + 8])
        data = raw[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IEND":
            break
        if ctype not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword, _, rest = data.partition(b"\0")
        key = keyword.decode("latin-1")
        if key not in keys:
            continue
        try:
            if ctype == b"tEXt":
                out[key] = rest.decode("latin-1")
            elif ctype == b"zTXt":
                out[key] = _inflate(rest[1:], name, key).decode("latin-1")
            else:
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                out[key] = (_inflate(text, name, key) if compressed else text).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue  # a damaged chunk: the next one (ccv3 or chara) may still be readable
    return out


def card_from_png(raw: bytes, name: str) -> Card:
    chunks = png_text_chunks(raw, name)
    for key in CARD_KEYS:
        if key in chunks:
            try:
                obj = json.loads(base64.b64decode(chunks[key]).decode("utf-8"))
            except (binascii.Error, ValueError) as e:
                raise StudioError("err.card.damaged_chunk", name=name, chunk=key, reason=e) from None
            return card_from_json(obj, name)
    raise StudioError("err.card.no_card_chunk", name=name)


def card_from_json(obj: dict, name: str) -> Card:
    if not isinstance(obj, dict):
        raise StudioError("err.card.not_object", name=name)
    spec = str(obj.get("spec") or "chara_card_v1")
    data = obj.get("data") if isinstance(obj.get("data"), dict) else obj
    char = str(data.get("name") or "").strip()
    if not char:
        raise StudioError("err.card.no_name", name=name)
    parts = [("Description", data.get("description")), ("Personality", data.get("personality")),
             ("Scenario", data.get("scenario"))]
    present = [(label, _fill(str(v), char)) for label, v in parts if v and str(v).strip()]
    if len(present) == 1 and present[0][0] == "Description":  # a description alone is the notes, unlabelled
        notes = present[0][1]
    else:
        notes = "\n\n".join(f"{label}: {text}" for label, text in present)
    system = _fill(str(data.get("system_prompt") or ""), char).strip()
    ours = isinstance(data.get("extensions"), dict) and "persona_studio" in data["extensions"]
    if not system and not ours:  # a card of ours keeps its empty system prompt as it was
        system = f"You are {char}. Stay in character and answer as {char} would."
    pairs, warnings = parse_examples(str(data.get("mes_example") or ""), char)
    if not pairs:
        warnings.append(T("w.card_no_examples", name=name))
    return Card(spec=spec, name=char, system_prompt=system, notes=notes, pairs=pairs, warnings=warnings)


def _fill(text: str, char: str) -> str:
    """{{char}} and {{user}} filled in; the name is text (a backslash or '\\g<0>' in it is kept as written)."""
    text = re.sub(r"\{\{char\}\}|<BOT>", lambda _: char, text, flags=re.I)
    return re.sub(r"\{\{user\}\}|<USER>", lambda _: "User", text, flags=re.I)


def parse_examples(mes_example: str, char: str) -> tuple[list[QAPair], list[str]]:
    """'<START>\\n{{user}}: hi\\n{{char}}: hello' blocks -> pairs; each block with 2+ pairs is one dialog."""
    pairs: list[QAPair] = []
    warnings: list[str] = []
    blocks = [b for b in re.split(r"<START>", mes_example, flags=re.I) if b.strip()]
    for n, block in enumerate(blocks, start=1):
        turns: list[list[str]] = []
        for line in block.strip().split("\n"):
            m = re.match(r"\s*(\{\{user\}\}|<USER>|\{\{char\}\}|<BOT>)\s*:\s?(.*)", line, flags=re.I)
            if m:
                who = "user" if m.group(1).lower() in ("{{user}}", "<user>") else "char"
                turns.append([who, m.group(2)])
            elif turns:
                turns[-1][1] += "\n" + line
        block_pairs = []
        pending = None
        for who, text in turns:
            text = _fill(text.strip(), char)
            if who == "user":
                pending = text if pending is None else f"{pending}\n{text}"
            elif pending is not None:
                block_pairs.append(QAPair(question=pending, answer=text))
                pending = None
            elif block_pairs:  # the character speaks twice in a row
                block_pairs[-1].answer += "\n" + text
        if len(block_pairs) > 1:
            for p in block_pairs:
                p.dialog_id = f"card{n}"
        pairs.extend(block_pairs)
    return pairs, warnings
