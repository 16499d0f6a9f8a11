"""What a template renders to: pieces of text (tokenized by the renderer) or special tokens (inserted as ids, never
as text the tokenizer may or may not parse), each saying whether it is trained and which assistant turn it belongs
to. Standard library only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BOS, EOS = "<bos>", "<eos>"   # stand for the tokenizer's own bos/eos ids, whatever their spelling


@dataclass(frozen=True)
class Piece:
    kind: Literal["text", "special"]
    value: str               # text, or a special token: BOS, EOS or a control token such as "<|eot_id|>"
    trained: bool = False    # part of an assistant reply (or its end-of-turn token)
    turn: int = -1           # assistant turn index for trained pieces and the prompt before them


def text_of(pieces: list[Piece], bos: str, eos: str) -> str:
    """The pieces as one display string, with BOS/EOS spelled as the tokenizer spells them."""
    return "".join(bos if p.value == BOS else eos if p.value == EOS else p.value for p in pieces)
