"""The one place labels are made: render(conversation, template, tokenizer) -> input_ids, labels.

Text pieces are tokenized with offsets and labelled by character span (so a reply is labelled exactly where it is,
whatever the tokenizer merges); special pieces are inserted as ids. Special-token strings inside text are never
parsed as control tokens (split_special_tokens=True): a literal "</s>" in a reply stays ordinary text, which the
Doctor reports. No torch here; `tokenizer` is any transformers fast tokenizer.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from studio.data.conversations import Conversation
from studio.format.model_pieces import model_template_pieces, special_strings  # noqa: F401 - re-exported
from studio.format.pieces import BOS, EOS, Piece
from studio.format.templates import get_template

IGNORE = -100
TRAIN_ON = ("responses", "last", "all")


@dataclass
class Rendered:
    input_ids: list[int]
    labels: list[int]
    rows: list[int]
    full_length: int                     # before truncation
    truncated: bool = False
    split_controls: list[str] = field(default_factory=list)   # control tokens not in the vocabulary
    unlocated_turns: list[int] = field(default_factory=list)  # 'model' template: replies that could not be found
    turn_spans: list[tuple[int, int]] = field(default_factory=list)  # token [start, end) of each reply + its end
    token_text: list[str] = field(default_factory=list)   # the exact source text of each token (for the view)
    special: list[bool] = field(default_factory=list)      # inserted as a special id (not tokenized text)

    @property
    def text(self) -> str:
        return "".join(self.token_text)


def special_id(tokenizer, value: str) -> int | None:
    """The single id of a special piece, or None if the vocabulary has no such token."""
    if value == BOS:
        return tokenizer.bos_token_id
    if value == EOS:
        return tokenizer.eos_token_id
    tid = tokenizer.convert_tokens_to_ids(value)
    if tid is None or (tid == tokenizer.unk_token_id and value != tokenizer.unk_token):
        return None
    return tid


def pieces_for(conv: Conversation, template_name: str, tokenizer, add_generation_prompt: bool = False) -> list[Piece]:
    return get_template(template_name).pieces(conv, add_generation_prompt, tokenizer)


def render(conv: Conversation, template_name: str, tokenizer, max_length: int | None = None,
           train_on: str = "responses", add_generation_prompt: bool = False) -> Rendered:
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}")
    pieces = pieces_for(conv, template_name, tokenizer, add_generation_prompt)
    last_turn = len(conv.turns) - 1
    ids: list[int] = []
    labels: list[int] = []
    spans: dict[int, list[int]] = {}
    split: list[str] = []
    chunk: list[Piece] = []

    def trained(p: Piece) -> bool:
        return train_on == "all" or (p.trained and (train_on == "responses" or p.turn == last_turn))

    token_text: list[str] = []
    special: list[bool] = []

    def emit(tid: int, p: Piece, text: str, is_special: bool) -> None:
        if p.trained:
            spans.setdefault(p.turn, [len(ids), len(ids)])[1] = len(ids) + 1
        ids.append(tid)
        labels.append(tid if trained(p) else IGNORE)
        token_text.append(text)
        special.append(is_special)

    def flush() -> None:
        if not chunk:
            return
        text, ranges, pos = "", [], 0
        for p in chunk:
            ranges.append((pos, pos + len(p.value), p))
            text += p.value
            pos += len(p.value)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True)
        ends = [re_ for _, re_, _ in ranges]   # ascending: the pieces lie end to end
        prev_end = 0
        for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"]):
            shown = text[max(s, prev_end):e]  # byte-fallback pieces of one character share its offsets
            prev_end = max(prev_end, e)
            e = max(e, s + 1)
            # the pieces this token overlaps, found by bisection (a scan of every piece per token grew with the
            # square of the turns when a template's control tokens are text in this vocabulary)
            over, j = [], bisect_right(ends, s)
            while j < len(ranges) and ranges[j][0] < e:
                if s < ranges[j][1]:
                    over.append(ranges[j][2])
                j += 1
            owner = next((p for p in over if p.trained), over[0] if over else chunk[-1])
            emit(tid, owner, shown, False)
        chunk.clear()

    for p in pieces:
        if p.kind == "text":
            chunk.append(p)
            continue
        tid = special_id(tokenizer, p.value)
        if tid is None and p.value in (BOS, EOS):
            continue  # the tokenizer has no bos/eos at all: the Doctor reports EOS_MISSING
        if tid is None:
            split.append(p.value)
            chunk.append(Piece("text", p.value, p.trained, p.turn))
            continue
        flush()
        shown = tokenizer.bos_token if p.value == BOS else tokenizer.eos_token if p.value == EOS else p.value
        emit(tid, p, shown, True)
    flush()
    full = len(ids)
    out = Rendered(input_ids=ids, labels=labels, rows=list(conv.rows), full_length=full,
                   split_controls=sorted(set(split)), turn_spans=[tuple(spans[t]) for t in sorted(spans)],
                   token_text=token_text, special=special)
    if get_template(template_name).own_template:
        out.unlocated_turns = [i for i in range(len(conv.turns)) if i not in spans and not add_generation_prompt]
    if max_length and full > max_length:
        out.input_ids, out.labels, out.truncated = ids[:max_length], labels[:max_length], True
        out.token_text, out.special = token_text[:max_length], special[:max_length]
    return out


def end_of_turn_id(template_name: str, tokenizer) -> int | None:
    """The id that closes a reply in training: what generation must stop on."""
    if not get_template(template_name).own_template:
        return special_id(tokenizer, get_template(template_name).end_of_turn)
    probe = Conversation("", [("hi", "hello")])
    r = render(probe, template_name, tokenizer)
    if not r.turn_spans:
        return tokenizer.eos_token_id
    last = r.input_ids[r.turn_spans[0][1] - 1]
    return last if last in tokenizer.all_special_ids else tokenizer.eos_token_id


def stop_token_ids(template_name: str, tokenizer) -> list[int]:
    """End-of-turn id first, then the family's other stop tokens (for llama3: <|eot_id|>, EOS, <|end_of_text|>)."""
    ids = [end_of_turn_id(template_name, tokenizer)]
    ids += [special_id(tokenizer, t) for t in get_template(template_name).stop_tokens()]
    return list(dict.fromkeys(i for i in ids if i is not None))


def generation_prompt_ids(conv: Conversation, template_name: str, tokenizer) -> list[int]:
    """The inference prompt for the last user turn of `conv`, from the same template as training."""
    return render(conv, template_name, tokenizer, add_generation_prompt=True).input_ids
