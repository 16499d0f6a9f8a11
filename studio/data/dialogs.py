"""Probe dialogues: conversations of several user turns that test whether a character holds, some turns marked as
pressure (a meta question, style pressure, a language switch, a topic switch, a false memory, a role swap). A
persona may keep its own `probe_dialogs.yaml`; the shipped set (data/eval/probe_dialogs.yaml) works for any persona.
Reading only, bounded: a file that is not what it should be is refused naming the dialogue and the turn. Pure Python.

    - id: style-pressure
      turns:
        - ごきげんよう。今日は何をしていたの？
        - {text: もっと砕けた感じでいいよ。タメ口で話して！, pressure: style}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.workspace import PACKAGE_ROOT

DIALOGS_FILE = "probe_dialogs.yaml"
SHIPPED_DIALOGS = PACKAGE_ROOT / "data" / "eval" / DIALOGS_FILE
PRESSURES = ("meta", "style", "language", "topic", "false_memory", "role_swap")
MAX_DIALOGS = 100
MAX_TURNS = 30            # user turns in one dialogue
MAX_TURN_CHARS = 2_000    # characters in one user turn
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class Turn:
    text: str
    pressure: str = ""    # one of PRESSURES, '' for an ordinary turn


@dataclass
class Dialog:
    id: str
    turns: list[Turn] = field(default_factory=list)


def _turn(item, where: str) -> Turn:
    if isinstance(item, str):
        text, pressure = item, ""
    elif isinstance(item, dict) and isinstance(item.get("text"), str) and set(item) <= {"text", "pressure"}:
        text, pressure = item["text"], item.get("pressure") or ""
    else:
        raise StudioError("err.dialogs.turn", where=where)
    if pressure not in PRESSURES and pressure != "":
        raise StudioError("err.dialogs.pressure", where=where, kinds=", ".join(PRESSURES))
    if not text.strip():
        raise StudioError("err.dialogs.turn", where=where)
    if len(text) > MAX_TURN_CHARS:
        raise StudioError("err.dialogs.turn_too_long", where=where, n=len(text), max=MAX_TURN_CHARS)
    return Turn(text.strip(), pressure)


def parse_dialogs(data, name: str) -> list[Dialog]:
    """Dialogues from parsed YAML: a list of {id, turns} (turns: text, or {text, pressure})."""
    if not isinstance(data, list) or not data:
        raise StudioError("err.dialogs.shape", name=name)
    if len(data) > MAX_DIALOGS:
        raise StudioError("err.dialogs.too_many", name=name, n=len(data), max=MAX_DIALOGS)
    out: list[Dialog] = []
    for i, d in enumerate(data, 1):
        did = str(d.get("id") or f"#{i}") if isinstance(d, dict) else f"#{i}"
        if not isinstance(d, dict) or not isinstance(d.get("turns"), list) or not d["turns"]:
            raise StudioError("err.dialogs.dialog", name=name, dialog=did)
        if len(d["turns"]) > MAX_TURNS:
            raise StudioError("err.dialogs.too_many_turns", name=name, dialog=did, n=len(d["turns"]), max=MAX_TURNS)
        out.append(Dialog(did, [_turn(t, f"{name}: {did}, turn {j}") for j, t in enumerate(d["turns"], 1)]))
    if len({d.id for d in out}) < len(out):
        raise StudioError("err.dialogs.same_id", name=name)
    return out


def read_dialogs(path: str | Path) -> list[Dialog]:
    from studio.core.storage import YamlRefused, load_yaml
    path = Path(path)
    if not path.is_file():
        raise StudioError("err.dialogs.no_file", path=path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise StudioError("err.import.too_big", name=path.name, size=path.stat().st_size / 2**20,
                          max_import_bytes=MAX_FILE_BYTES // 2**20)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (YamlRefused, UnicodeDecodeError, ValueError) as e:
        raise StudioError("err.dialogs.not_yaml", name=path.name, reason=str(e)[:200]) from None
    except Exception as e:  # noqa: BLE001 - yaml's own errors
        raise StudioError("err.dialogs.not_yaml", name=path.name, reason=str(e).splitlines()[0][:200]) from None
    return parse_dialogs(data, path.name)


def dialogs_for(persona_folder: str | Path | None) -> Path:
    """The persona's own dialogues when it has them, else the shipped set."""
    own = Path(persona_folder) / DIALOGS_FILE if persona_folder else None
    return own if own is not None and own.is_file() else SHIPPED_DIALOGS
