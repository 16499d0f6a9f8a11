"""Row-level validation of a persona's pairs. Errors block training; warnings do not. No torch, no gradio."""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

from studio.core.findings import Finding, sort_findings
from studio.data.conversations import group_dialogs
from studio.data.persona import Persona
from studio.locale import Rows, T

# Control strings of the templates we render and of common chat formats. A literal copy inside a cell is the
# source notes' bug: the tokenizer may split "</s>" into "</" "s" ">" and the model learns to print it.
SPECIAL_TOKEN_TEXTS = ("</s>", "<s>", "<unk>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<start_of_turn>",
                       "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<eos>", "<bos>")
SPECIAL_TOKEN_RE = re.compile(r"<\|[A-Za-z0-9_]+\|>|" + "|".join(re.escape(t) for t in SPECIAL_TOKEN_TEXTS))
FAR_OVER = 2.0  # an answer over twice the target length is "far over"


def validate_persona(persona: Persona) -> list[Finding]:
    pairs = persona.pairs
    if not pairs:
        return [Finding.of("NO_ROWS", "error", T("v.no_rows"), T("v.no_rows.fix"))]
    found: list[Finding] = []
    by_code: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, p in enumerate(pairs, start=1):
        for col, text in (("question", p.question), ("answer", p.answer)):
            if not text.strip():
                by_code[("EMPTY", col)].append(row)
        for col, text in (("question", p.question), ("answer", p.answer), ("context", p.context)):
            if _control_chars(text):
                by_code[("CONTROL", col)].append(row)
    for (kind, col), rows in by_code.items():
        if kind == "EMPTY":
            found.append(Finding.of(f"EMPTY_{col.upper()}", "error", T(f"v.empty_{col}", where=Rows(rows)),
                                    T(f"v.empty_{col}.fix"), rows))
        else:
            chars = sorted({f"U+{ord(c):04X}" for r in rows for c in _control_chars(getattr(pairs[r - 1], col))})
            found.append(Finding.of("CONTROL_CHARS", "error",
                                    T("v.control", where=Rows(rows), col=T(f"col.{col}"), chars=", ".join(chars)),
                                    T("v.control.fix"), rows))
    found += _special_tokens(persona)
    found += _duplicates(persona)
    found += _too_long(persona)
    found += _dialogs(persona)
    return sort_findings(found)


def _control_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]


def _special_tokens(persona: Persona) -> list[Finding]:
    hits: dict[str, list[int]] = defaultdict(list)
    for row, p in enumerate(persona.pairs, start=1):
        for text in (p.question, p.answer, p.context):
            for m in SPECIAL_TOKEN_RE.finditer(text):
                if row not in hits[m.group()]:
                    hits[m.group()].append(row)
    return [Finding.of("SPECIAL_TOKEN_TEXT", "error", T("v.special", where=Rows(rows), tok=repr(tok)),
                       T("v.special.fix", tok=repr(tok)), rows)
            for tok, rows in hits.items()]


def _duplicates(persona: Persona) -> list[Finding]:
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, p in enumerate(persona.pairs, start=1):
        if p.question.strip() or p.answer.strip():
            seen[(p.question.strip(), p.answer.strip())].append(row)
    return [Finding.of("DUPLICATE", "warning", T("v.duplicate", where=Rows(rows), n=len(rows)),
                       T("v.duplicate.fix"), rows)
            for rows in seen.values() if len(rows) > 1]


def _too_long(persona: Persona) -> list[Finding]:
    target = persona.style.target_chars
    if target <= 0:
        return []
    rows = [r for r, p in enumerate(persona.pairs, start=1) if len(p.answer.strip()) > FAR_OVER * target]
    if not rows:
        return []
    longest = max(len(persona.pairs[r - 1].answer.strip()) for r in rows)
    return [Finding.of("ANSWER_TOO_LONG", "warning", T("v.too_long", where=Rows(rows), target=target, longest=longest),
                       T("v.too_long.fix"), rows)]


def _dialogs(persona: Persona) -> list[Finding]:
    found = []
    for group in group_dialogs(persona.pairs):
        rows = [r for r, _ in group]
        did = group[0][1].dialog_id.strip()
        if did and rows != list(range(rows[0], rows[0] + len(rows))):
            found.append(Finding.of("DIALOG_BROKEN", "error", T("v.dialog_broken", where=Rows(rows), did=repr(did)),
                                    T("v.dialog_broken.fix"), rows))
        late_context = [r for r, p in group[1:] if p.context.strip()]
        if late_context:
            found.append(Finding.of("DIALOG_CONTEXT", "warning",
                                    T("v.dialog_context", where=Rows(late_context), did=repr(did)),
                                    T("v.dialog_context.fix"), late_context))
    return found
