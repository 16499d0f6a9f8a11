"""Prompt templates: one small class each, a registry, and their stop tokens. Standard library only.

A template turns a Conversation into Pieces: text (tokenized by the renderer) or special tokens (inserted as ids,
never as text the tokenizer may or may not parse). Each piece says whether it is trained (an assistant reply and
its end-of-turn token) and which assistant turn it belongs to.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from studio.data.conversations import Conversation

BOS, EOS = "<bos>", "<eos>"   # stand for the tokenizer's own bos/eos ids, whatever their spelling


@dataclass(frozen=True)
class Piece:
    kind: Literal["text", "special"]
    value: str               # text, or a special token: BOS, EOS or a control token such as "<|eot_id|>"
    trained: bool = False    # part of an assistant reply (or its end-of-turn token)
    turn: int = -1           # assistant turn index for trained pieces and the prompt before them


class Template(Protocol):
    name: str
    end_of_turn: str         # the special token that ends an assistant reply (EOS or a control token)

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False) -> list[Piece]: ...

    def stop_tokens(self) -> list[str]: ...


class Llama2:
    """Llama-2 chat. Source: https://github.com/meta-llama/llama/blob/main/llama/generation.py
    (B_INST="[INST]", E_INST="[/INST]", B_SYS="<<SYS>>\\n", E_SYS="\\n<</SYS>>\\n\\n"; each turn is
    f"{bos}[INST] {user} [/INST] {answer} {eos}"; the system block is folded into the first user message)."""
    name = "llama2"
    end_of_turn = EOS

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False) -> list[Piece]:
        out: list[Piece] = []
        turns = conv.turns
        for i, (user, answer) in enumerate(turns):
            last = i == len(turns) - 1
            sys_block = f"<<SYS>>\n{conv.system}\n<</SYS>>\n\n" if i == 0 and conv.system else ""
            out += [Piece("special", BOS, turn=i), Piece("text", f"[INST] {sys_block}{user} [/INST]", turn=i)]
            if add_generation_prompt and last:
                break
            out += [Piece("text", f" {answer} ", True, i), Piece("special", EOS, True, i)]
        return out

    def stop_tokens(self) -> list[str]:
        return [EOS]


class Llama3:
    """Llama-3 instruct. Source: https://github.com/meta-llama/llama3/blob/main/llama/tokenizer.py (ChatFormat)
    and https://www.llama.com/docs/model-cards-and-prompt-formats/meta-llama-3/ — <|begin_of_text|>, then per
    message <|start_header_id|>{role}<|end_header_id|>\\n\\n{content}<|eot_id|>; generation ends on <|eot_id|>."""
    name = "llama3"
    end_of_turn = "<|eot_id|>"

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False) -> list[Piece]:
        out = [Piece("special", BOS, turn=0)]
        if conv.system:
            out += self._header("system", 0) + [Piece("text", conv.system, turn=0),
                                                Piece("special", self.end_of_turn, turn=0)]
        for i, (user, answer) in enumerate(conv.turns):
            out += self._header("user", i) + [Piece("text", user, turn=i), Piece("special", self.end_of_turn, turn=i)]
            out += self._header("assistant", i)
            if add_generation_prompt and i == len(conv.turns) - 1:
                break
            out += [Piece("text", answer, True, i), Piece("special", self.end_of_turn, True, i)]
        return out

    @staticmethod
    def _header(role: str, turn: int) -> list[Piece]:
        return [Piece("special", "<|start_header_id|>", turn=turn), Piece("text", role, turn=turn),
                Piece("special", "<|end_header_id|>", turn=turn), Piece("text", "\n\n", turn=turn)]

    def stop_tokens(self) -> list[str]:
        return [self.end_of_turn, EOS]


class ModelTemplate:
    """The tokenizer's own chat_template (e.g. ChatML for SmolLM2). Pieces come from rendering it with
    apply_chat_template, so this one needs the tokenizer: see studio.render.model_template_pieces."""
    name = "model"
    end_of_turn = EOS

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False) -> list[Piece]:
        raise TypeError("the 'model' template is rendered from the tokenizer's chat_template by studio.render")

    def stop_tokens(self) -> list[str]:
        return [EOS]


TEMPLATES: dict[str, Template] = {t.name: t for t in (Llama2(), Llama3(), ModelTemplate())}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATES)  # the one list of template names (CLI, config, UI)


# Jinja equivalents, written into a merged model's tokenizer so other tools chat with it in the trained format.
CHAT_TEMPLATES = {
    "llama2": ("{%- set system = messages[0]['content'] if messages[0]['role'] == 'system' else '' -%}"
               "{%- set msgs = messages[1:] if messages[0]['role'] == 'system' else messages -%}"
               "{%- for m in msgs -%}{%- if m['role'] == 'user' -%}{{ bos_token + '[INST] ' }}"
               "{%- if loop.first and system -%}{{ '<<SYS>>\n' + system + '\n<</SYS>>\n\n' }}{%- endif -%}"
               "{{ m['content'] + ' [/INST]' }}{%- else -%}{{ ' ' + m['content'] + ' ' + eos_token }}{%- endif -%}"
               "{%- endfor -%}"),
    "llama3": ("{{ bos_token }}{%- for m in messages -%}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
               " + m['content'] + '<|eot_id|>' }}{%- endfor -%}{%- if add_generation_prompt -%}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"),
}


def chat_template_jinja(name: str) -> str:
    return CHAT_TEMPLATES[name]


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; choose one of {', '.join(TEMPLATES)}") from None


def text_of(pieces: list[Piece], bos: str, eos: str) -> str:
    """The pieces as one display string, with BOS/EOS spelled as the tokenizer spells them."""
    return "".join(bos if p.value == BOS else eos if p.value == EOS else p.value for p in pieces)
