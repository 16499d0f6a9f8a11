"""An Ollama Modelfile for an exported GGUF: a Go TEMPLATE that renders exactly what the contract's template
rendered in training (in the shape of Ollama's own templates for the family), one stop per stop token, the
persona's system prompt and sampling defaults. Standard library only."""
from __future__ import annotations

from dataclasses import dataclass

SAMPLING = {"temperature": 0.7, "top_p": 0.9, "repeat_penalty": 1.1}


def ollama_template(family: str, add_bos: bool = True) -> str:
    """The family's Ollama template (with BOS written in when the GGUF does not add it)."""
    from studio.format.templates import get_template
    return get_template(family).ollama_template(add_bos)


def default_system(rendered_without_system: str) -> str:
    """The system message a model's own template inserts when the conversation has none (SmolLM2's ChatML does),
    or '' (each template family says how it spells it)."""
    from studio.format.templates import default_system_of
    return default_system_of(rendered_without_system)


def with_persona_default(template: str, tokenizer, system: str) -> str:
    """The chat template with the persona's system prompt where the base's own default system text stood (SmolLM2
    inserts "You are a helpful AI assistant named SmolLM…" when a chat starts without a system message, as
    llama.cpp's server and LM Studio start them): outside the studio the GGUF still knows who it is."""
    if not template or not system:
        return template
    try:
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    except Exception:  # noqa: BLE001 - a template that cannot render this has no default to replace
        return template
    default = default_system(rendered)
    if not default or default not in template:
        return template
    escaped = system.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n")
    return template.replace(default, escaped)


@dataclass
class ModelfileSpec:
    gguf_name: str
    family: str               # llama2 | llama3 | chatml
    add_bos: bool
    system: str
    stops: list[str]
    num_ctx: int
    comment: str = ""


def _quoted(text: str) -> str:
    """A triple-quoted Modelfile value (TEMPLATE, SYSTEM): line breaks are fine there; a closing quote is not."""
    return '"""' + text.replace('"""', '\u201d\u201d\u201d') + '"""'


def _one_line(text: str) -> str:
    """A value that must stay on its line (a comment): line breaks and other control characters become spaces."""
    return "".join(" " if (ord(c) < 32 or c in "\x7f\x85\u2028\u2029") else c for c in text).strip()


def _string(text: str) -> str:
    """A double-quoted Modelfile string (a stop sequence): backslashes, quotes and line breaks escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + _one_line(escaped) + '"'


def modelfile_text(spec: ModelfileSpec) -> str:
    """Every value is text: a name with line breaks cannot add a directive, a stop cannot end its string."""
    lines = [f"# {_one_line(spec.comment)}"] if spec.comment else []
    lines += [f"FROM ./{_one_line(spec.gguf_name)}", f"TEMPLATE {_quoted(ollama_template(spec.family, spec.add_bos))}"]
    if spec.system:
        lines.append(f"SYSTEM {_quoted(spec.system)}")
    lines += [f"PARAMETER stop {_string(s)}" for s in dict.fromkeys(spec.stops) if s]
    lines += [f"PARAMETER {k} {v}" for k, v in SAMPLING.items()]
    lines.append(f"PARAMETER num_ctx {spec.num_ctx}")
    return "\n".join(lines) + "\n"
