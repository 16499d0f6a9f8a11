"""The Template Doctor: findings with stable codes about how a dataset renders for a tokenizer. No torch.

It reads the renders made by studio.render (never re-renders differently); the only extra renders it makes are
the ones a user's tools would make: the inference prompt (BOUNDARY_DRIFT), the model's own chat template
(TEMPLATE_MISMATCH) and the plain-text path of the export (DOUBLE_BOS).
"""
from __future__ import annotations

from dataclasses import dataclass

from studio.findings import Finding, format_rows, sort_findings
from studio.render import IGNORE, Rendered, end_of_turn_id, render, special_strings, stop_token_ids
from studio.templates import Conversation
from studio.validate import SPECIAL_TOKEN_RE

MISMATCH_SAMPLE = 20  # conversations compared against the model's own template


@dataclass
class DoctorInput:
    convs: list[Conversation]
    renders: list[Rendered]
    template: str
    tokenizer: object
    max_length: int
    generation_eos_ids: list[int] | None = None  # from the model's generation_config.json, when known


def rows_of(items: list[Rendered]) -> list[int]:
    return sorted({r for x in items for r in x.rows[:1]})


def diagnose(d: DoctorInput) -> list[Finding]:
    if not d.renders:
        return [Finding("NO_TRAINED_TOKENS", "error", "There is nothing to render: the persona has no rows.",
                        "Add Q&A rows in the Persona tab.")]
    checks = (_token_split, _double_bos, _eos_missing, _eos_split, _eos_masked, _boundary_drift, _no_trained,
              _truncated, _template_mismatch, _stop_token)
    return sort_findings([f for check in checks for f in check(d)])


def _token_split(d: DoctorInput) -> list[Finding]:
    split = sorted({t for r in d.renders for t in r.split_controls})
    if not split:
        return []
    return [Finding("TEMPLATE_TOKEN_SPLIT", "error",
                    f"The {d.template} template's control tokens {', '.join(split)} are not single tokens in this "
                    "vocabulary, so each is cut into ordinary pieces and the model cannot learn them as markers.",
                    "Pick the template that matches the model, or add them as special tokens (auto-fix): training "
                    "then resizes the embeddings and trains those rows.", rows_of(d.renders))]


def _double_bos(d: DoctorInput) -> list[Finding]:
    bos = d.tokenizer.bos_token_id
    if bos is None:
        return []
    out = []
    doubled = [r for r in d.renders if any(a == b == bos for a, b in zip(r.input_ids, r.input_ids[1:]))]
    if doubled:
        out.append(Finding("DOUBLE_BOS", "error", f"{format_rows(rows_of(doubled))}: the rendered ids hold two "
                           f"BOS tokens ({d.tokenizer.bos_token}) in a row; the chat template adds one itself.",
                           "Remove bos_token from the chat template, or choose the llama2/llama3 template.",
                           rows_of(doubled)))
    sample = d.renders[0]
    if not doubled and sample.input_ids[:1] == [bos]:
        ids = d.tokenizer(sample.text, add_special_tokens=True)["input_ids"]
        if ids[:2] == [bos, bos]:
            out.append(Finding("DOUBLE_BOS", "warning",
                               f"The plain-text export starts with {d.tokenizer.bos_token} and this tokenizer adds "
                               "another when it encodes text, so a trainer fed the text gets two BOS tokens "
                               f"({d.tokenizer.bos_token} {d.tokenizer.bos_token}). Studio's own training uses "
                               "the ids and is not affected.",
                               "Export the JSONL with input_ids/labels for other trainers, or strip the leading "
                               "BOS from the text export.", []))
    return out


def _eot_name(d: DoctorInput, eot: int | None) -> str:
    return d.tokenizer.convert_ids_to_tokens(eot) if eot is not None else "none"


def _eos_missing(d: DoctorInput) -> list[Finding]:
    eot = end_of_turn_id(d.template, d.tokenizer)
    if eot is None:
        what = "This tokenizer has no EOS token" if d.tokenizer.eos_token_id is None else \
            f"The {d.template} template's end-of-turn token is not in this vocabulary"
        return [Finding("EOS_MISSING", "error", f"{what}, so replies cannot be taught to end and generation "
                        "would never stop.", "Use a tokenizer that defines it, or pick the matching template.",
                        rows_of(d.renders))]
    bad = [r for r in d.renders if not r.truncated and any(
        r.input_ids[e - 1] != eot for s, e in r.turn_spans if e > s and any(l != IGNORE for l in r.labels[s:e]))]
    if not bad:
        return []
    sample = next(x for x in bad)
    last = next(sample.token_text[e - 1] for s, e in sample.turn_spans if sample.input_ids[e - 1] != eot)
    return [Finding("EOS_MISSING", "error", f"{format_rows(rows_of(bad))}: a trained reply ends in {last!r}, not in "
                    f"the end-of-turn token {_eot_name(d, eot)!r}; the model never learns to stop.",
                    "Use a chat template that closes each assistant message with the end-of-turn token, or choose "
                    "the llama2/llama3 template.", rows_of(bad))]


def _eos_split(d: DoctorInput) -> list[Finding]:
    """Special-token strings written literally in the rows (system prompt, questions, answers, context)."""
    literals = [x for x in special_strings(d.tokenizer)]
    hits: dict[str, list[int]] = {}
    for conv in d.convs:
        for turn, row in zip(conv.turns, conv.rows):
            text = "\n".join((conv.system, *turn))
            found = {m.group() for m in SPECIAL_TOKEN_RE.finditer(text)} | {x for x in literals if x in text}
            for lit in found:
                hits.setdefault(lit, []).append(row)
    out = []
    for lit, rows in hits.items():
        enc = d.tokenizer(lit, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        pieces = " ".join(repr(t) for t in d.tokenizer.convert_ids_to_tokens(enc))
        real = d.tokenizer.convert_tokens_to_ids(lit) if lit in literals else None
        real_txt = f" instead of its single id {real}" if real is not None else ""
        rows = sorted(set(rows))
        out.append(Finding("EOS_SPLIT", "error",
                           f"{format_rows(rows)}: the text holds the literal string {lit!r}, which becomes the "
                           f"ordinary pieces {pieces} (ids {enc}){real_txt}. The model would learn to print "
                           f"{lit!r} rather than stop.",
                           f"Remove {lit!r} from the rows (auto-fix); the template adds the real end-of-turn id.",
                           rows))
    return out


def _eos_masked(d: DoctorInput) -> list[Finding]:
    out = []
    masked = [r for r in d.renders if not r.truncated for s, e in r.turn_spans[-1:] if r.labels[e - 1] == IGNORE
              and any(l != IGNORE for l in r.labels[s:e - 1])]
    if masked:
        out.append(Finding("EOS_MASKED", "error", f"{format_rows(rows_of(masked))}: the reply is trained but its "
                           "end-of-turn token carries no label, so the model never learns to stop.",
                           "Train the end-of-turn token with the reply (Studio's default masking does).",
                           rows_of(masked)))
    pad, stops = d.tokenizer.pad_token_id, stop_token_ids(d.template, d.tokenizer)
    if pad is None or pad in stops:
        what = "has no pad token (trainers then pad with EOS)" if pad is None else \
            f"pads with {d.tokenizer.pad_token!r}, which is also an end-of-turn token"
        out.append(Finding("EOS_MASKED", "info", f"This tokenizer {what}. A collator that masks padding by id would "
                           "mask every EOS label too. Studio masks padding by position, so its training keeps them.",
                           "Nothing to do in Studio; set a distinct pad token before using the data elsewhere.", []))
    return out


def _boundary_drift(d: DoctorInput) -> list[Finding]:
    drifted: list[int] = []
    example = ""
    for conv, r in zip(d.convs, d.renders):
        if r.truncated:
            continue  # reported as TRUNCATED; its tail cannot be compared
        for i in range(len(conv.turns)):
            prompt = render(Conversation(conv.system, conv.turns[:i + 1], conv.rows), d.template, d.tokenizer,
                            add_generation_prompt=True)
            n = len(prompt.input_ids)
            if r.input_ids[:n] != prompt.input_ids:
                drifted.append(conv.rows[i])
                if not example:
                    k = next(j for j, (a, b) in enumerate(zip(prompt.input_ids, r.input_ids)) if a != b) \
                        if any(a != b for a, b in zip(prompt.input_ids, r.input_ids)) else min(n, len(r.input_ids))
                    example = (f" In row {conv.rows[i]}, at token {k} the prompt alone has "
                               f"{prompt.token_text[k:k + 2]!r} but the training text has {r.token_text[k:k + 2]!r}.")
                break
    if not drifted:
        return []
    return [Finding("BOUNDARY_DRIFT", "warning",
                    f"{format_rows(drifted)}: the inference prompt, tokenized alone, is not a prefix of the training "
                    f"sequence, so the model is trained on a boundary it never sees in chat.{example}",
                    "Remove trailing spaces from the template's generation prompt, or use the llama2/llama3 "
                    "template whose boundaries are stable.", drifted)]


def _no_trained(d: DoctorInput) -> list[Finding]:
    empty = [r for r in d.renders if all(l == IGNORE for l in r.labels)]
    if not empty:
        return []
    why = " The model's chat template renders replies in a way whose spans cannot be located." \
        if any(r.unlocated_turns for r in empty) else ""
    return [Finding("NO_TRAINED_TOKENS", "error", f"{format_rows(rows_of(empty))}: no token of the example is "
                    f"trained, so it only costs time.{why}",
                    "Check the answers are not empty and fit in max length; for the 'model' template, try "
                    "llama2 or llama3.", rows_of(empty))]


def _truncated(d: DoctorInput) -> list[Finding]:
    cut = [r for r in d.renders if r.truncated]
    if not cut:
        return []
    longest = max(r.full_length for r in cut)
    suggest = -(-longest // 64) * 64
    return [Finding("TRUNCATED", "error", f"{format_rows(rows_of(cut))}: longer than max length {d.max_length} "
                    f"tokens (longest {longest}); the reply would be cut and its end-of-turn token lost.",
                    f"Raise max length to {suggest} (auto-fix) or shorten those rows.", rows_of(cut))]


def _template_mismatch(d: DoctorInput) -> list[Finding]:
    if d.template == "model" or not getattr(d.tokenizer, "chat_template", None):
        return []
    differ, example = [], ""
    for conv, r in list(zip(d.convs, d.renders))[:MISMATCH_SAMPLE]:
        try:
            theirs = render(conv, "model", d.tokenizer)
        except Exception:  # a broken model template is not this template's problem
            return []
        if theirs.input_ids != r.input_ids:
            differ.append(conv.rows[0])
            if not example:
                k = next((j for j, (a, b) in enumerate(zip(r.input_ids, theirs.input_ids)) if a != b),
                         min(len(r.input_ids), len(theirs.input_ids)))
                example = (f" First difference in row {conv.rows[0]} at token {k}: {d.template} has "
                           f"{''.join(r.token_text[k:k + 3])!r}, the model's template has "
                           f"{''.join(theirs.token_text[k:k + 3])!r}.")
    if not differ:
        return []
    return [Finding("TEMPLATE_MISMATCH", "warning",
                    f"{format_rows(differ)}: the {d.template} template renders these differently from the model's "
                    f"own chat template, which other tools use when they chat with it.{example}",
                    "Use the 'model' template (auto-fix), unless you mean to teach a new format.", differ)]


def _stop_token(d: DoctorInput) -> list[Finding]:
    eot = end_of_turn_id(d.template, d.tokenizer)
    if eot is None:
        return []
    default_stops = d.generation_eos_ids if d.generation_eos_ids else [d.tokenizer.eos_token_id]
    if eot in default_stops:
        return []
    names = ", ".join(repr(d.tokenizer.convert_ids_to_tokens(i)) for i in default_stops if i is not None) or "none"
    return [Finding("STOP_TOKEN", "warning",
                    f"Replies end in {_eot_name(d, eot)!r} (id {eot}), but generation with this model's default "
                    f"settings stops only on {names}; it would run past the end of a reply.",
                    f"Nothing to do in Studio: chat, merge and eval stop on the contract's ids "
                    f"{stop_token_ids(d.template, d.tokenizer)}, and merge writes them into generation_config.json. "
                    "Other tools need them set as stop tokens.", [])]

