"""Render a whole persona, run the Doctor, apply its auto-fixes, export. Used by the CLI and the Format tab."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.findings import Finding
from studio.core.jsonl import lines_text
from studio.core.storage import atomic_write_text
from studio.data.conversations import Conversation, conversations_from_persona
from studio.data.persona import Persona
from studio.data.validate import SPECIAL_TOKEN_RE
from studio.format.doctor import DoctorInput, diagnose
from studio.format.render import Rendered, render
from studio.format.templates import TEMPLATES, get_template

AUTOFIXES = {"EOS_SPLIT": "strip_literals", "TEMPLATE_TOKEN_SPLIT": "add_control_tokens",
             "TRUNCATED": "raise_max_length", "TEMPLATE_MISMATCH": "use_model_template",
             "UNTRAINED_STOP": "use_eos_ending"}


@dataclass
class FormatSettings:
    template: str = "llama2"         # a family of studio.format.templates (template_names())
    max_length: int = 512            # tokens per example; longer ones are truncated (and reported)
    train_on: str = "responses"      # responses | last | all
    system_override: str | None = None   # replaces the persona's system prompt when set


@dataclass
class FormatResult:
    convs: list[Conversation]
    renders: list[Rendered]
    findings: list[Finding] = field(default_factory=list)
    first_replay_row: int = 0   # rows from here on are replay rows (the base model's answers), 0 = none

    def is_replay(self, row: int) -> bool:
        return 0 < self.first_replay_row <= row


def autofix_applies(code: str, template: str) -> bool:
    """Whether the Doctor's auto-fix for `code` can do anything under `template`."""
    family = TEMPLATES.get(template)
    return code in AUTOFIXES and (code != "UNTRAINED_STOP" or family is not None and family.eos_variant is not None)


def render_persona(persona: Persona, tokenizer, settings: FormatSettings, model: str | None = None,
                   replay: list[Conversation] = ()) -> FormatResult:
    """Every example as trained; `replay` conversations (numbered after the table's rows) go through the same
    renderer and Doctor, and are marked as replay rows. `model` (a source `core.models.resolve` accepts) lets the
    Doctor read the model's generation config and stop-token embedding too."""
    if settings.system_override is not None:
        persona = replace(persona, system_prompt=settings.system_override)
    convs = conversations_from_persona(persona) + list(replay)
    renders = [render(c, settings.template, tokenizer, settings.max_length, settings.train_on) for c in convs]
    eos_ids, untrained = None, ()
    if model:
        from studio.core.embeddings import untrained_token_ids
        from studio.core.models import generation_eos_ids, local_folder
        from studio.format.render import end_of_turn_id
        eos_ids = generation_eos_ids(model)
        untrained = tuple(untrained_token_ids(local_folder(model), [end_of_turn_id(settings.template, tokenizer)]))
    findings = diagnose(DoctorInput(convs, renders, settings.template, tokenizer, settings.max_length,
                                    eos_ids, untrained))
    return FormatResult(convs, renders, findings, replay[0].rows[0] if replay else 0)


def strip_literal_specials(persona: Persona) -> tuple[Persona, int]:
    """Remove literal special-token strings (</s>, <|eot_id|>, [INST] ...) from every cell; returns the count."""
    count = 0

    def clean(text: str) -> str:
        nonlocal count
        new, n = SPECIAL_TOKEN_RE.subn("", text)
        count += n
        return re.sub(r"[ \t]+$", "", new) if n else text

    pairs = [replace(p, question=clean(p.question), answer=clean(p.answer), context=clean(p.context))
             for p in persona.pairs]
    return replace(persona, pairs=pairs), count


def missing_control_tokens(result: FormatResult) -> list[str]:
    return sorted({t for r in result.renders for t in r.split_controls})


def add_control_tokens(tokenizer, tokens: list[str]) -> int:
    """Register template control tokens as special tokens; the model must then resize its embeddings."""
    return tokenizer.add_special_tokens({"additional_special_tokens": list(tokens)},
                                        replace_extra_special_tokens=False) if tokens else 0


def suggested_max_length(result: FormatResult) -> int:
    longest = max((r.full_length for r in result.renders), default=0)
    return max(64, -(-longest // 64) * 64)


def export_rendered(result: FormatResult, out: str | Path) -> Path:
    """.jsonl: {"row", "text", "input_ids", "labels"} per example; .txt: the texts, one example per block."""
    out = Path(out)
    if not result.renders:
        raise StudioError("err.format.no_rows")
    if out.suffix.lower() == ".jsonl":
        atomic_write_text(out, lines_text({"row": r.rows[0], "text": r.text, "input_ids": r.input_ids,
                                           "labels": r.labels} for r in result.renders), keep_backups=0)
    elif out.suffix.lower() == ".txt":
        atomic_write_text(out, "\n\n".join(r.text for r in result.renders) + "\n", keep_backups=0)
    else:
        raise StudioError("err.format.bad_suffix", name=out.name)
    return out


@dataclass
class Autofixed:
    """What an auto-fix changed: the persona (when its rows were edited), the settings and the tokenizer to render
    with next, and the control tokens added so far."""
    persona: Persona | None
    template: str
    max_length: int
    tokenizer: object
    added: list[str]


def apply_autofix(code: str, result: FormatResult, persona: Persona, template: str, max_length: int, tokenizer,
                  added: list[str]) -> Autofixed:
    """The Doctor's auto-fix for one finding code (AUTOFIXES), as data: the caller saves and re-renders."""
    import copy
    if code not in AUTOFIXES:
        raise KeyError(code)
    if code == "EOS_SPLIT":
        return Autofixed(strip_literal_specials(persona)[0], template, max_length, tokenizer, added)
    if code == "TEMPLATE_TOKEN_SPLIT":
        tok, new = copy.deepcopy(tokenizer), missing_control_tokens(result)  # the loaded tokenizer stays as it was
        add_control_tokens(tok, new)
        return Autofixed(None, template, max_length, tok, sorted(set(added) | set(new)))
    if code == "TRUNCATED":
        return Autofixed(None, template, suggested_max_length(result), tokenizer, added)
    if code == "UNTRAINED_STOP":
        return Autofixed(None, get_template(template).eos_variant or template, max_length, tokenizer, added)
    return Autofixed(None, "model", max_length, tokenizer, added)  # TEMPLATE_MISMATCH

