"""The persona as a SillyTavern Character Card V2 (JSON, or PNG with a `chara` text chunk) that our own card
importer reads back unchanged. Spec: https://github.com/malfoyslastname/character-card-spec-v2"""
from __future__ import annotations

import base64
import io
import json
from dataclasses import asdict
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.storage import atomic_write_bytes
from studio.data.persona import Persona

EXAMPLES = 8   # mes_example shows a few pairs, not the whole table


def _examples(persona: Persona, n: int) -> str:
    """'<START>' blocks: one per single row, one per dialog (rows sharing a dialog_id, in order)."""
    from studio.data.conversations import group_dialogs

    blocks, used = [], 0
    for group in group_dialogs(persona.pairs):
        if n and used >= n:
            break
        lines = [f"{{{{user}}}}: {p.question}\n{{{{char}}}}: {p.answer}" for _, p in group]
        blocks.append("<START>\n" + "\n".join(lines))
        used += len(group)
    return "\n".join(blocks)


def persona_card(persona: Persona, examples: int = EXAMPLES, contract: dict | None = None) -> dict:
    first = persona.pairs[0].answer if persona.pairs else ""
    ext = {"style": asdict(persona.style), "notes_in_prompt": persona.notes_in_prompt}
    if contract:
        ext["contract"] = {k: contract.get(k) for k in ("template", "stop_token_ids", "end_of_turn", "base_model",
                                                         "data_hash")}
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": {
        "name": persona.name, "description": persona.notes, "personality": "", "scenario": "",
        "first_mes": first, "mes_example": _examples(persona, examples), "creator_notes": "Made with Persona Studio.",
        "system_prompt": persona.system_prompt, "post_history_instructions": "", "alternate_greetings": [],
        "tags": ["persona-studio"], "creator": "", "character_version": "1",
        "extensions": {"persona_studio": ext}}}


def card_png(card: dict, avatar: bytes | None = None, avatar_name: str = "avatar") -> bytes:
    """A portrait PNG (the avatar fitted, else the character's name drawn) carrying the card in a `chara` tEXt
    chunk (base64 JSON), as SillyTavern writes."""
    from PIL import PngImagePlugin

    from studio.data.card_image import portrait
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii"))
    buf = io.BytesIO()
    portrait(card["data"]["name"], avatar, avatar_name).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_card(persona: Persona, out: str | Path, examples: int = EXAMPLES, contract: dict | None = None,
               avatar: str | Path | None = None) -> Path:
    """The card as JSON or PNG by `out`'s suffix; a PNG shows `avatar` (an image file) when given."""
    from studio.data.card_image import read_avatar
    out = Path(out)
    card = persona_card(persona, examples, contract)
    suffix = out.suffix.lower()
    if suffix == ".json":
        data = json.dumps(card, ensure_ascii=False, indent=1).encode("utf-8")
    elif suffix == ".png":
        data = card_png(card, read_avatar(avatar) if avatar else None, Path(avatar).name if avatar else "avatar")
    else:
        raise StudioError("err.card.out", out=out)
    atomic_write_bytes(out, data, keep_backups=0)
    return out
