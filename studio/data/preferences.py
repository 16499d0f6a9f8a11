"""Preference data: pairs ("this reply, not that one") and ratings (one reply, good or bad), read from the studio's
votes file or a preference file in any of the shapes people have, checked, and written in trl's formats.
Pure Python: no torch, no gradio. Rendering into ids is studio/format/preference_render.py's job.

Shapes read (one JSON object per line):
- the studio's votes (`vote` A/B with both answers; `kind: rating` for a 👍/👎 on one reply);
- plain pairs `{"prompt": str, "chosen": str, "rejected": str}` (system and template come from the parent run);
- trl's conversational pairs `{"prompt": [messages], "chosen": [messages], "rejected": [messages]}`;
- unpaired rows `{"prompt", "completion", "label": bool}`, plain or conversational (KTO).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jsonl import read_jsonl
from studio.data.importers import decode_bytes

MAX_FILE_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Preference:
    """One preference: the conversation so far, the last question, and either a chosen/rejected pair or one
    completion with a label. `system` is None when the source did not say (the parent run's is used)."""
    prompt: str
    history: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    chosen: str = ""
    rejected: str = ""
    completion: str = ""
    label: bool | None = None             # set for a rating (unpaired); None for a pair
    persona: str = ""                     # the persona the voted model was trained on ('' = unknown)
    template: str = ""                    # the template the voted replies were made with ('' = unknown)
    source: str = ""                      # vote id or "file line N"

    @property
    def paired(self) -> bool:
        return self.label is None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", None, ())}


@dataclass
class Selection:
    """What a method will train on, and what was left out (reason -> count), said to the user."""
    kept: list[Preference] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _turns(history) -> tuple[tuple[str, str], ...]:
    out = []
    for turn in history or []:
        if isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(x, str) for x in turn):
            out.append((turn[0], turn[1]))
    return tuple(out)


def _side(v: dict, which: int) -> dict:
    sides = v.get("sides") if isinstance(v.get("sides"), list) else []
    return sides[which] if len(sides) > which and isinstance(sides[which], dict) else {}


def from_votes(votes: list[dict]) -> list[Preference]:
    """Pairs from A/B votes (ties and 'both bad' say nothing about which is better) and ratings from 👍/👎. The
    chosen side's conversation is the context; the side's contract says persona, template and system prompt."""
    out = []
    for v in votes:
        if v.get("kind") == "rating":
            side = v.get("side") if isinstance(v.get("side"), dict) else {}
            if isinstance(v.get("prompt"), str) and isinstance(v.get("answer"), str):
                out.append(Preference(v["prompt"], _turns(v.get("history")), side.get("system_prompt"),
                                      completion=v["answer"], label=bool(v.get("label")),
                                      persona=str(side.get("persona") or ""), template=str(side.get("template") or ""),
                                      source=str(v.get("id") or "")))
            continue
        if v.get("vote") not in ("A", "B") or not all(isinstance(v.get(k), str) for k in
                                                      ("prompt", "answer_a", "answer_b")):
            continue
        win = 0 if v["vote"] == "A" else 1
        answers = (v["answer_a"], v["answer_b"])
        side = _side(v, win)
        histories = v.get("history") if isinstance(v.get("history"), list) else []
        history = histories[win] if len(histories) > win and isinstance(histories[win], list) else []
        out.append(Preference(v["prompt"], _turns(history), side.get("system_prompt"), chosen=answers[win],
                              rejected=answers[1 - win], persona=str(side.get("persona") or ""),
                              template=str(side.get("template") or ""), source=str(v.get("id") or "")))
    return out


def _messages(value, name: str, line: int) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if not isinstance(value, list) or not all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                              and m.get("role") in ("system", "user", "assistant") for m in value):
        raise StudioError("err.prefs.bad_messages", name=name, line=line)
    return value


def _conversational(row: dict, name: str, line: int) -> tuple[str | None, tuple, str]:
    """system, history and the last user message of a conversational prompt."""
    msgs = _messages(row["prompt"], name, line)
    system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
    rest = msgs[1:] if system is not None else msgs
    if not rest or rest[-1]["role"] != "user":
        raise StudioError("err.prefs.bad_messages", name=name, line=line)
    history, pending = [], None
    for m in rest[:-1]:
        if m["role"] == "user":
            pending = m["content"]
        elif pending is not None:
            history.append((pending, m["content"]))
            pending = None
    return system, tuple(history), rest[-1]["content"]


def _reply(value, name: str, line: int) -> str:
    msgs = _messages(value, name, line)
    if len(msgs) != 1 or msgs[0]["role"] != "assistant":
        raise StudioError("err.prefs.bad_messages", name=name, line=line)
    return msgs[0]["content"]


def from_row(row: dict, name: str, line: int) -> Preference:
    """One line of a preference file, in any shape above; anything else names the line and the fields expected."""
    if not isinstance(row.get("prompt"), (str, list)):
        raise StudioError("err.prefs.unknown_shape", name=name, line=line, found=", ".join(sorted(row)) or "-")
    if isinstance(row["prompt"], list):
        system, history, prompt = _conversational(row, name, line)
    else:
        system, history, prompt = row.get("system") if isinstance(row.get("system"), str) else None, (), row["prompt"]
    where = f"{name} line {line}"
    if "chosen" in row and "rejected" in row:
        return Preference(prompt, history, system, chosen=_reply(row["chosen"], name, line),
                          rejected=_reply(row["rejected"], name, line), source=where)
    if "completion" in row and isinstance(row.get("label"), bool):
        return Preference(prompt, history, system, completion=_reply(row["completion"], name, line),
                          label=row["label"], source=where)
    raise StudioError("err.prefs.unknown_shape", name=name, line=line, found=", ".join(sorted(row)))


def read_preference_file(path: str | Path) -> list[Preference]:
    """Every preference in a file: the studio's votes, plain or conversational pairs, or unpaired rows."""
    path = Path(path)
    if not path.is_file():
        raise StudioError("err.prefs.no_file", path=path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise StudioError("err.import.too_big", name=path.name, size=path.stat().st_size / 2**20,
                          max_import_bytes=MAX_FILE_BYTES // 2**20)
    text, _ = decode_bytes(path.read_bytes(), path.name)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise StudioError("err.prefs.bad_json", name=path.name, line=n) from None
        if not isinstance(row, dict):
            raise StudioError("err.prefs.unknown_shape", name=path.name, line=n, found=type(row).__name__)
        rows.append((n, row))
    if rows and all("vote" in r or r.get("kind") == "rating" for _, r in rows):
        return from_votes([r for _, r in rows])
    return [from_row(r, path.name, n) for n, r in rows]


def read_votes_file(path: Path) -> list[Preference]:
    return from_votes(read_jsonl(path))


def write_rows(prefs: list[Preference], out: Path) -> int:
    """The studio's own normalised file (one Preference per line): what a preference run keeps in its folder."""
    from studio.core.storage import atomic_write_text
    lines = [json.dumps(p.to_dict(), ensure_ascii=False) for p in prefs]
    atomic_write_text(out, "\n".join(lines) + ("\n" if lines else ""), keep_backups=0)
    return len(lines)


def load_rows(path: Path) -> list[Preference]:
    """Read back what write_rows wrote."""
    out = []
    for row in read_jsonl(path):
        row["history"] = _turns(row.get("history"))
        known = Preference.__dataclass_fields__
        out.append(Preference(**{k: v for k, v in row.items() if k in known}))
    return out


def preferences_hash(prefs: list[Preference]) -> str:
    h = hashlib.sha256()
    for p in prefs:
        h.update(json.dumps(p.to_dict(), ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()[:16]


def export_rows(prefs: list[Preference], system: str, unpaired: bool = False) -> list[dict]:
    """trl's conversational formats: pairs as prompt/chosen/rejected messages, or (unpaired) prompt/completion/label
    rows, where a pair gives one good and one bad row."""
    out = []
    for p in prefs:
        msgs = ([{"role": "system", "content": p.system if p.system is not None else system}]
                if (p.system if p.system is not None else system) else [])
        for u, a in p.history:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": p.prompt})
        if unpaired:
            items = [(p.completion, p.label)] if not p.paired else [(p.chosen, True), (p.rejected, False)]
            out += [{"prompt": msgs, "completion": [{"role": "assistant", "content": c}], "label": lab}
                    for c, lab in items]
        elif p.paired:
            out.append({"prompt": msgs, "chosen": [{"role": "assistant", "content": p.chosen}],
                        "rejected": [{"role": "assistant", "content": p.rejected}]})
    return out
