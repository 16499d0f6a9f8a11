"""An Ollama Modelfile for an exported GGUF: a Go TEMPLATE that renders exactly what the contract's template
rendered in training (in the shape of Ollama's own templates for the family), one stop per stop token, the
persona's system prompt and sampling defaults. Standard library only."""
from __future__ import annotations

from dataclasses import dataclass

# Ollama adds BOS itself when the GGUF says add_bos_token (llama.cpp's tokenizer does it), as Ollama's own
# llama2/llama3 templates assume; otherwise the template writes it.
OLLAMA_TEMPLATES = {
    "llama2": ("{{- $first := true }}\n"
               "{{- range .Messages }}\n"
               "{{- if eq .Role \"user\" }}{{ if not $first }}<s>{{ end }}[INST] "
               "{{ if and $first $.System }}<<SYS>>\n{{ $.System }}\n<</SYS>>\n\n{{ end }}"
               "{{ .Content }} [/INST]{{ $first = false }}\n"
               "{{- else if eq .Role \"assistant\" }} {{ .Content }} </s>\n"
               "{{- end }}\n"
               "{{- end }}"),
    "llama3": ("{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n{{- end }}\n"
               "{{- range .Messages }}{{ if ne .Role \"system\" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
               "{{ .Content }}<|eot_id|>{{ end }}\n"
               "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "chatml": ("{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}\n"
               "{{- range .Messages }}{{ if ne .Role \"system\" }}<|im_start|>{{ .Role }}\n"
               "{{ .Content }}<|im_end|>\n{{ end }}\n"
               "{{- end }}<|im_start|>assistant\n"),
}
BOS_TEXT = {"llama2": "<s>", "llama3": "<|begin_of_text|>", "chatml": ""}
SAMPLING = {"temperature": 0.7, "top_p": 0.9, "repeat_penalty": 1.1}


def ollama_template(family: str, add_bos: bool = True) -> str:
    template = OLLAMA_TEMPLATES[family]
    return template if add_bos or not BOS_TEXT[family] else BOS_TEXT[family] + template


def chatml_text(messages: list[dict], add_generation_prompt: bool) -> str:
    """What a ChatML template renders: used to recognise a model's own template as ChatML."""
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def default_system(rendered_without_system: str) -> str:
    """The system message a ChatML template inserts when the conversation has none (SmolLM2 does), or ''."""
    head = "<|im_start|>system\n"
    if rendered_without_system.startswith(head) and "<|im_end|>" in rendered_without_system:
        return rendered_without_system[len(head):rendered_without_system.index("<|im_end|>")]
    return ""


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
    return '"""' + text.replace('"""', '\u201d\u201d\u201d') + '"""'


def modelfile_text(spec: ModelfileSpec) -> str:
    lines = [f"# {spec.comment}"] if spec.comment else []
    lines += [f"FROM ./{spec.gguf_name}", f"TEMPLATE {_quoted(ollama_template(spec.family, spec.add_bos))}"]
    if spec.system:
        lines.append(f"SYSTEM {_quoted(spec.system)}")
    lines += [f'PARAMETER stop "{s}"' for s in dict.fromkeys(spec.stops) if s]
    lines += [f"PARAMETER {k} {v}" for k, v in SAMPLING.items()]
    lines.append(f"PARAMETER num_ctx {spec.num_ctx}")
    return "\n".join(lines) + "\n"
