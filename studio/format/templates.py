"""Prompt templates: one record per family, and their registry. Standard library only.

A family says everything about one prompt format, in one class: its pieces (the Python renderer's input), its Jinja
chat template (written into merged models), its Ollama template (written into Modelfiles), its stop tokens and how
to recognise it in a tokenizer's own template. Adding a family is one class and `register(...)`.

A template turns a Conversation into Pieces: text (tokenized by the renderer) or special tokens (inserted as ids,
never as text the tokenizer may or may not parse). Each piece says whether it is trained (an assistant reply and
its end-of-turn token) and which assistant turn it belongs to.
"""
from __future__ import annotations

from studio.data.conversations import Conversation
from studio.format.pieces import BOS, EOS, Piece, text_of  # noqa: F401 - re-exported: the families' vocabulary

# A two-turn conversation whose text identifies a family (system, one answered turn, a generation prompt).
PROBE = Conversation("S", [("U", "A"), ("V", "")])


class Family:
    """One prompt format. Subclasses set the class attributes and `pieces`."""
    name: str = ""
    end_of_turn: str = EOS   # the special token that ends an assistant reply (EOS or a control token)
    selectable = True        # offered as a training template (CLI --template, config, the UI's choices)
    jinja: str = ""          # the same format as a Hugging Face chat template ("" = none: the model's own)
    ollama: str = ""         # the same format as an Ollama Go template ("" = cannot be exported to Ollama)
    ollama_bos: str = ""     # written at the Ollama template's start when the GGUF does not add BOS itself
    extra_stops: tuple[str, ...] = ()  # more tokens that end generation (after the end of turn and EOS)
    own_template = False     # rendered from the tokenizer's own chat template (no Jinja of ours is written)
    eos_variant: str | None = None   # the same turns with replies ending on EOS (the UNTRAINED_STOP auto-fix)

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
        """The conversation as pieces (`tokenizer`: needed only by a family rendered from the tokenizer's own
        template)."""
        raise NotImplementedError

    def stop_tokens(self) -> list[str]:
        """The tokens that end generation: the end of turn first, then EOS and any others, without repeats."""
        return list(dict.fromkeys([self.end_of_turn, EOS, *self.extra_stops]))

    def ollama_template(self, add_bos: bool = True) -> str:
        return self.ollama if add_bos or not self.ollama_bos else self.ollama_bos + self.ollama

    def recognises(self, text: str, bos: str, eos: str) -> bool:
        """Does a tokenizer's own template, rendering PROBE with a generation prompt, produce this family's text?"""
        return text == text_of(self.pieces(PROBE, True), bos, eos)

    def default_system(self, rendered_without_system: str) -> str:
        """The system text this family's own templates insert when a conversation has none ('' = none)."""
        return ""


class Llama2(Family):
    """Llama-2 chat. Source: https://github.com/meta-llama/llama/blob/main/llama/generation.py
    (B_INST="[INST]", E_INST="[/INST]", B_SYS="<<SYS>>\\n", E_SYS="\\n<</SYS>>\\n\\n"; each turn is
    f"{bos}[INST] {user} [/INST] {answer} {eos}"; the system block is folded into the first user message)."""
    name = "llama2"
    jinja = (
        "{%- set system = messages[0]['content'] if messages[0]['role'] == 'system' else '' -%}"
        "{%- set msgs = messages[1:] if messages[0]['role'] == 'system' else messages -%}"
        "{%- for m in msgs -%}{%- if m['role'] == 'user' -%}{{ bos_token + '[INST] ' }}"
        "{%- if loop.first and system -%}{{ '<<SYS>>\n' + system + '\n<</SYS>>\n\n' }}{%- endif -%}"
        "{{ m['content'] + ' [/INST]' }}{%- else -%}{{ ' ' + m['content'] + ' ' + eos_token }}{%- endif -%}"
        "{%- endfor -%}")
    # Ollama adds BOS itself when the GGUF says add_bos_token (llama.cpp's tokenizer does it), as Ollama's own
    # llama2/llama3 templates assume; otherwise the template writes it.
    ollama = ("{{- $first := true }}\n"
                            "{{- range .Messages }}\n"
                            "{{- if eq .Role \"user\" }}{{ if not $first }}<s>{{ end }}[INST] "
                            "{{ if and $first $.System }}<<SYS>>\n{{ $.System }}\n<</SYS>>\n\n{{ end }}"
                            "{{ .Content }} [/INST]{{ $first = false }}\n"
                            "{{- else if eq .Role \"assistant\" }} {{ .Content }} </s>\n"
                            "{{- end }}\n"
                            "{{- end }}")
    ollama_bos = "<s>"

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
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


class Llama3(Family):
    """Llama-3 instruct. Source: https://github.com/meta-llama/llama3/blob/main/llama/tokenizer.py (ChatFormat)
    and https://www.llama.com/docs/model-cards-and-prompt-formats/meta-llama-3/ — <|begin_of_text|>, then per
    message <|start_header_id|>{role}<|end_header_id|>\\n\\n{content}<|eot_id|>; generation ends on <|eot_id|>
    (and on <|end_of_text|>)."""
    name = "llama3"
    end_of_turn = "<|eot_id|>"
    extra_stops = ("<|end_of_text|>",)
    jinja = ("{{ bos_token }}{%- for m in messages -%}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
                           " + m['content'] + '<|eot_id|>' }}{%- endfor -%}{%- if add_generation_prompt -%}"
                           "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}")
    ollama = (
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n{{- end }}\n"
        "{{- range .Messages }}{{ if ne .Role \"system\" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
        "{{ .Content }}<|eot_id|>{{ end }}\n"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n")
    ollama_bos = "<|begin_of_text|>"

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
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


class ChatML(Family):
    """ChatML (SmolLM2, Qwen and many more): <|im_start|>{role}\\n{content}<|im_end|>\\n per message, no BOS.
    Recognised in a model's own template so its export gets an Ollama template; training uses `model` for it."""
    name = "chatml"
    end_of_turn = "<|im_end|>"
    selectable = False
    jinja = ("{%- for m in messages -%}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
             "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}")
    ollama = ("{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}\n"
                            "{{- range .Messages }}{{ if ne .Role \"system\" }}<|im_start|>{{ .Role }}\n"
                            "{{ .Content }}<|im_end|>\n{{ end }}\n"
                            "{{- end }}<|im_start|>assistant\n")

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
        out: list[Piece] = []
        if conv.system:
            out += self._message("system", conv.system, 0)
        for i, (user, answer) in enumerate(conv.turns):
            out += self._message("user", user, i)
            out += [Piece("special", "<|im_start|>", turn=i), Piece("text", "assistant\n", turn=i)]
            if add_generation_prompt and i == len(conv.turns) - 1:
                break
            out += [Piece("text", answer, True, i), Piece("special", self.end_of_turn, True, i),
                    Piece("text", "\n", turn=i)]
        return out

    def default_system(self, rendered_without_system: str) -> str:
        """SmolLM2's template (and other ChatML ones) open a chat without a system message with their own."""
        head = "<|im_start|>system\n"
        if rendered_without_system.startswith(head) and self.end_of_turn in rendered_without_system:
            return rendered_without_system[len(head):rendered_without_system.index(self.end_of_turn)]
        return ""

    def _message(self, role: str, content: str, turn: int) -> list[Piece]:
        return [Piece("special", "<|im_start|>", turn=turn), Piece("text", f"{role}\n{content}", turn=turn),
                Piece("special", self.end_of_turn, turn=turn), Piece("text", "\n", turn=turn)]

    def stop_tokens(self) -> list[str]:
        return [self.end_of_turn, EOS]


class Gemma(Family):
    """Gemma (2 and 3) instruct. Source: the chat_template of google/gemma-3-*-it — <bos>, then per message
    <start_of_turn>{user|model}\n{content}<end_of_turn>\n, the system prompt folded into the first user turn
    followed by a blank line; generation ends on <end_of_turn> (and <eos>)."""
    name = "gemma"
    end_of_turn = "<end_of_turn>"
    eos_variant = "gemma-eos"
    answer_end = "<end_of_turn>"   # what closes an assistant turn, as the Jinja and Ollama templates spell it
    ollama_bos = "<bos>"

    @property
    def jinja(self) -> str:  # type: ignore[override]
        close = "eos_token" if self.end_of_turn == EOS else f"'{self.answer_end}'"
        return ("{{ bos_token }}{%- set system = messages[0]['content'] if messages[0]['role'] == 'system' else '' -%}"
                "{%- set msgs = messages[1:] if messages[0]['role'] == 'system' else messages -%}"
                "{%- for m in msgs -%}{%- if m['role'] == 'user' -%}{{ '<start_of_turn>user\n' }}"
                "{%- if loop.first and system -%}{{ system + '\n\n' }}{%- endif -%}"
                "{{ m['content'] + '<end_of_turn>\n' }}"
                "{%- else -%}{{ '<start_of_turn>model\n' + m['content'] + " + close + " + '\n' }}{%- endif -%}"
                "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}")

    @property
    def ollama(self) -> str:  # type: ignore[override]
        return ("{{- $first := true }}\n"
                "{{- range .Messages }}\n"
                "{{- if eq .Role \"user\" }}<start_of_turn>user\n"
                "{{ if and $first $.System }}{{ $.System }}\n\n{{ end }}{{ .Content }}<end_of_turn>\n"
                "{{ $first = false }}\n"
                "{{- else if eq .Role \"assistant\" }}<start_of_turn>model\n"
                "{{ .Content }}" + self.answer_end + "\n"
                "{{ end }}\n"
                "{{- end }}<start_of_turn>model\n")

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
        out = [Piece("special", BOS, turn=0)]
        for i, (user, answer) in enumerate(conv.turns):
            prefix = f"{conv.system}\n\n" if i == 0 and conv.system else ""
            out += [Piece("special", "<start_of_turn>", turn=i), Piece("text", f"user\n{prefix}{user}", turn=i),
                    Piece("special", "<end_of_turn>", turn=i), Piece("text", "\n", turn=i),
                    Piece("special", "<start_of_turn>", turn=i), Piece("text", "model\n", turn=i)]
            if add_generation_prompt and i == len(conv.turns) - 1:
                break
            out += [Piece("text", answer, True, i), Piece("special", self.end_of_turn, True, i),
                    Piece("text", "\n", turn=i)]
        return out


class GemmaEos(Gemma):
    """Gemma turns whose assistant replies end with <eos> instead of <end_of_turn>: for checkpoints (Gemma 3 270M
    base) whose <end_of_turn> was never trained — its embedding is one of thousands of near-identical unused rows,
    so a tuned model with a tied, frozen head cannot learn to emit it (measured: junk where the turn should end,
    5 of 12 replies stopped; with <eos>, 12 of 12). User turns keep <end_of_turn> as ordinary input."""
    name = "gemma-eos"
    end_of_turn = EOS
    eos_variant = None
    answer_end = "<eos>"


class ModelTemplate(Family):
    """The tokenizer's own chat_template (e.g. ChatML for SmolLM2). Pieces come from rendering it with
    apply_chat_template, so this one needs the tokenizer: see studio.format.render.model_template_pieces."""
    name = "model"
    own_template = True
    eos_variant = "gemma-eos"   # a Gemma base's own template ends replies on the untrained <end_of_turn>

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
        if tokenizer is None:
            raise TypeError("the 'model' template is rendered from a tokenizer's chat_template: pass the tokenizer")
        from studio.format.model_pieces import model_template_pieces
        return model_template_pieces(conv, tokenizer, add_generation_prompt)

    def stop_tokens(self) -> list[str]:
        return [EOS]

    def recognises(self, text: str, bos: str, eos: str) -> bool:
        return False


TEMPLATES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry (names are unique); returns it."""
    if not family.name or family.name in TEMPLATES:
        raise ValueError(f"a template family needs a new name, not {family.name!r}")
    TEMPLATES[family.name] = family
    return family


for _family in (Llama2(), Llama3(), ModelTemplate(), ChatML(), Gemma(), GemmaEos()):
    register(_family)


def template_names() -> tuple[str, ...]:
    """The templates a run may train with (the CLI's choices, the config's check, the UI's list)."""
    return tuple(name for name, family in TEMPLATES.items() if family.selectable)


TEMPLATE_NAMES: tuple[str, ...] = template_names()  # the shipped families, fixed at import (argparse choices)


def chat_template_jinja(name: str) -> str:
    return get_template(name).jinja


def get_template(name: str) -> Family:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; choose one of {', '.join(TEMPLATES)}") from None


def default_system_of(rendered_without_system: str) -> str:
    """The system text a model's own template inserts when a chat has none, as whichever family recognises it."""
    return next((s for f in TEMPLATES.values() if (s := f.default_system(rendered_without_system))), "")


def recognise(text: str, bos: str, eos: str) -> str | None:
    """The family whose rendering of PROBE is `text` (a tokenizer's own template's output), or None."""
    return next((name for name, family in TEMPLATES.items() if family.recognises(text, bos, eos)), None)
