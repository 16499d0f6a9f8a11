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
from studio.core.jsonl import lines_text, read_jsonl, split_lines
from studio.data.csv_cells import MAX_CELL_CHARS
from studio.data.importers import decode_bytes

MAX_FILE_BYTES = 20 * 2**20
MAX_PREFERENCES = 10_000     # lines of a preference file: far more than a run trains on; checking each costs time
MAX_TEXT_CHARS = MAX_CELL_CHARS   # one prompt, reply or system prompt: as long as a persona table's cell may be


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

    def texts(self) -> list[str]:
        """Every text the preference holds (what rendering tokenizes)."""
        return [self.prompt, self.system or "", self.chosen, self.rejected, self.completion,
                *(t for turn in self.history for t in turn)]

    def to_dict(self) -> dict:
        # an empty system prompt is a choice ("none"), not "the parent's" (None): it is kept
        return {k: v for k, v in asdict(self).items() if v is not None and (v not in ("", ()) or k == "system")}


@dataclass
class Selection:
    """What a method will train on, and what was left out (reason -> count), said to the user."""
    kept: list[Preference] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _turns(history) -> tuple[tuple[str, str], ...]:
    if not isinstance(history, (list, tuple)):
        return ()
    out = []
    for turn in history:
        if isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(x, str) for x in turn):
            out.append((turn[0], turn[1]))
    return tuple(out)


def _side(v: dict, which: int) -> dict:
    sides = v.get("sides") if isinstance(v.get("sides"), list) else []
    return sides[which] if len(sides) > which and isinstance(sides[which], dict) else {}


def _contract_fields(side: dict) -> tuple[str | None, str, str] | None:
    """(system prompt or None, persona, template) of a vote's side; None when any of them is not text."""
    system, persona, template = side.get("system_prompt"), side.get("persona"), side.get("template")
    if system is not None and not isinstance(system, str):
        return None
    if any(x is not None and not isinstance(x, str) for x in (persona, template)):
        return None
    return system, persona or "", template or ""


def vote_preference(v: dict) -> Preference | None:
    """The preference one record of the votes file holds: a pair from an A/B vote (ties and 'both bad' say nothing
    about which is better), a rating from 👍/👎 (its label a true boolean). None for anything else — a record of
    another shape, or one whose prompt, replies, system prompt, persona or template is not text. The chosen side's
    conversation is the context; the side's contract says persona, template and system prompt."""
    if not isinstance(v, dict) or not isinstance(v.get("prompt"), str):
        return None
    source = v["id"] if isinstance(v.get("id"), str) else ""
    if v.get("kind") == "rating":
        fields = _contract_fields(v["side"] if isinstance(v.get("side"), dict) else {})
        if fields is None or not isinstance(v.get("answer"), str) or not isinstance(v.get("label"), bool):
            return None
        return Preference(v["prompt"], _turns(v.get("history")), fields[0], completion=v["answer"],
                          label=v["label"], persona=fields[1], template=fields[2], source=source)
    if v.get("vote") not in ("A", "B") or not all(isinstance(v.get(k), str) for k in ("answer_a", "answer_b")):
        return None
    win = 0 if v["vote"] == "A" else 1
    answers = (v["answer_a"], v["answer_b"])
    fields = _contract_fields(_side(v, win))
    if fields is None:
        return None
    histories = v.get("history") if isinstance(v.get("history"), list) else []
    history = histories[win] if len(histories) > win and isinstance(histories[win], list) else []
    return Preference(v["prompt"], _turns(history), fields[0], chosen=answers[win], rejected=answers[1 - win],
                      persona=fields[1], template=fields[2], source=source)


def from_votes(votes: list[dict]) -> list[Preference]:
    """Every usable preference of the votes file, in order (see vote_preference)."""
    return [p for p in map(vote_preference, votes) if p is not None]


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
    for n, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise StudioError("err.prefs.bad_json", name=path.name, line=n) from None
        if not isinstance(row, dict):
            raise StudioError("err.prefs.unknown_shape", name=path.name, line=n, found=type(row).__name__)
        rows.append((n, row))
        if len(rows) > MAX_PREFERENCES:
            raise StudioError("err.prefs.too_many", name=path.name, max=MAX_PREFERENCES)
    if rows and all("vote" in r or r.get("kind") == "rating" for _, r in rows):
        prefs = from_votes([r for _, r in rows])
    else:
        prefs = [from_row(r, path.name, n) for n, r in rows]
    for p in prefs:
        longest = max(len(t) for t in p.texts())
        if longest > MAX_TEXT_CHARS:
            raise StudioError("err.prefs.text_too_long", name=path.name, where=p.source or "?", n=longest,
                              max=MAX_TEXT_CHARS)
    return prefs


def read_votes_file(path: Path) -> list[Preference]:
    return from_votes(read_jsonl(path))


def write_rows(prefs: list[Preference], out: Path) -> int:
    """The studio's own normalised file (one Preference per line): what a preference run keeps in its folder."""
    from studio.core.storage import atomic_write_text
    atomic_write_text(out, lines_text(p.to_dict() for p in prefs), keep_backups=0)
    return len(prefs)


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
