"""Row-level validation of a persona's pairs. Errors block training; warnings do not. No torch, no gradio."""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

from studio.conversations import group_dialogs
from studio.findings import Finding, format_rows, sort_findings
from studio.persona import Persona

# Control strings of the templates we render and of common chat formats. A literal copy inside a cell is the
# source notes' bug: the tokenizer may split "</s>" into "</" "s" ">" and the model learns to print it.
SPECIAL_TOKEN_TEXTS = ("</s>", "<s>", "<unk>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")
SPECIAL_TOKEN_RE = re.compile(r"<\|[A-Za-z0-9_]+\|>|" + "|".join(re.escape(t) for t in SPECIAL_TOKEN_TEXTS))
FAR_OVER = 2.0  # an answer over twice the target length is "far over"


def validate_persona(persona: Persona) -> list[Finding]:
    pairs = persona.pairs
    if not pairs:
        return [Finding("NO_ROWS", "error", "The persona has no Q&A rows yet.",
                        "Add rows in the table or import a CSV/JSONL file.")]
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
            found.append(Finding(f"EMPTY_{col.upper()}", "error", f"{format_rows(rows)}: {col} is empty.",
                                 f"Write the {col} or delete the row.", rows))
        else:
            chars = sorted({f"U+{ord(c):04X}" for r in rows for c in _control_chars(getattr(pairs[r - 1], col))})
            found.append(Finding("CONTROL_CHARS", "error",
                                 f"{format_rows(rows)}: {col} contains control characters ({', '.join(chars)}).",
                                 "Delete them; they are invisible and tokenize unpredictably.", rows))
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
    return [Finding("SPECIAL_TOKEN_TEXT", "error",
                    f"{format_rows(rows)}: the text contains the literal string {tok!r}. A tokenizer may split it "
                    "into ordinary pieces, and the model then learns to print it instead of stopping.",
                    f"Remove {tok!r} from the text; the template adds real control tokens (as ids) itself.", rows)
            for tok, rows in hits.items()]


def _duplicates(persona: Persona) -> list[Finding]:
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, p in enumerate(persona.pairs, start=1):
        if p.question.strip() or p.answer.strip():
            seen[(p.question.strip(), p.answer.strip())].append(row)
    return [Finding("DUPLICATE", "warning", f"{format_rows(rows)}: the same question and answer appear "
                    f"{len(rows)} times.", "Delete the copies, or vary them; duplicates are trained twice.", rows)
            for rows in seen.values() if len(rows) > 1]


def _too_long(persona: Persona) -> list[Finding]:
    target = persona.style.target_chars
    if target <= 0:
        return []
    rows = [r for r, p in enumerate(persona.pairs, start=1) if len(p.answer.strip()) > FAR_OVER * target]
    if not rows:
        return []
    longest = max(len(persona.pairs[r - 1].answer.strip()) for r in rows)
    return [Finding("ANSWER_TOO_LONG", "warning",
                    f"{format_rows(rows)}: the answer is over twice the style guide's target of {target} characters "
                    f"(longest: {longest}).", "Shorten the answers, or raise the target length in the style guide.",
                    rows)]


def _dialogs(persona: Persona) -> list[Finding]:
    found = []
    for group in group_dialogs(persona.pairs):
        rows = [r for r, _ in group]
        did = group[0][1].dialog_id.strip()
        if did and rows != list(range(rows[0], rows[0] + len(rows))):
            found.append(Finding("DIALOG_BROKEN", "error",
                                 f"{format_rows(rows)}: dialog_id {did!r} is used by rows that are not next to each "
                                 "other, so the conversation's order is unclear.",
                                 "Move the rows of one dialog together, or give the stray row its own dialog_id.",
                                 rows))
        late_context = [r for r, p in group[1:] if p.context.strip()]
        if late_context:
            found.append(Finding("DIALOG_CONTEXT", "warning",
                                 f"{format_rows(late_context)}: context on a later turn of dialog {did!r} is not "
                                 "used; only the first turn's context goes into the prompt.",
                                 "Move the context to the dialog's first row.", late_context))
    return found
