"""The Template Doctor: findings with stable codes about how a dataset renders for a tokenizer. No torch.

It reads the renders made by studio.render (never re-renders differently); the only extra renders it makes are
the ones a user's tools would make: the inference prompt (BOUNDARY_DRIFT), the model's own chat template
(TEMPLATE_MISMATCH) and the plain-text path of the export (DOUBLE_BOS).
"""
from __future__ import annotations

from dataclasses import dataclass

from studio.core.findings import Finding, sort_findings
from studio.data.conversations import Conversation
from studio.data.validate import SPECIAL_TOKEN_RE
from studio.format.render import IGNORE, Rendered, end_of_turn_id, render, special_strings, stop_token_ids
from studio.format.templates import get_template, template_names
from studio.locale import Rows, T

MISMATCH_SAMPLE = 20  # conversations compared against the model's own template
SINGLE_TURN_HINT = 20  # rows from which a persona with no multi-turn dialogue gets the hint


@dataclass
class DoctorInput:
    convs: list[Conversation]
    renders: list[Rendered]
    template: str
    tokenizer: object
    max_length: int
    generation_eos_ids: list[int] | None = None  # from the model's generation_config.json, when known
    untrained_ids: tuple[int, ...] = ()          # stop ids whose embedding rows look untrained (core.embeddings)


def rows_of(items: list[Rendered]) -> list[int]:
    return sorted({r for x in items for r in x.rows[:1]})


def diagnose(d: DoctorInput) -> list[Finding]:
    if not d.renders:
        return [Finding.of("NO_TRAINED_TOKENS", "error", T("d.nothing"), T("d.nothing.fix"))]
    checks = (_token_split, _double_bos, _eos_missing, _eos_split, _eos_masked, _boundary_drift, _no_trained,
              _truncated, _template_mismatch, _stop_token, _untrained_stop, _empty_answer, _no_dialogs)
    return sort_findings([f for check in checks for f in check(d)])


def _token_split(d: DoctorInput) -> list[Finding]:
    split = sorted({t for r in d.renders for t in r.split_controls})
    if not split:
        return []
    return [Finding.of("TEMPLATE_TOKEN_SPLIT", "error",
                       T("d.token_split", template=d.template, tokens=", ".join(split)),
                       T("d.token_split.fix"), rows_of(d.renders))]


def _double_bos(d: DoctorInput) -> list[Finding]:
    bos = d.tokenizer.bos_token_id
    if bos is None:
        return []
    out = []
    doubled = [r for r in d.renders if any(a == b == bos for a, b in zip(r.input_ids, r.input_ids[1:]))]
    if doubled:
        out.append(Finding.of("DOUBLE_BOS", "error", T("d.double_bos", where=Rows(rows_of(doubled)),
                                                       bos=d.tokenizer.bos_token),
                              T("d.double_bos.fix"), rows_of(doubled)))
    sample = d.renders[0]
    if not doubled and sample.input_ids[:1] == [bos]:
        ids = d.tokenizer(sample.text, add_special_tokens=True)["input_ids"]
        if ids[:2] == [bos, bos]:
            out.append(Finding.of("DOUBLE_BOS", "warning", T("d.double_bos_text", bos=d.tokenizer.bos_token),
                                  T("d.double_bos_text.fix")))
    return out


def _eot_name(d: DoctorInput, eot: int | None) -> str:
    return d.tokenizer.convert_ids_to_tokens(eot) if eot is not None else "none"


def _eos_missing(d: DoctorInput) -> list[Finding]:
    eot = end_of_turn_id(d.template, d.tokenizer)
    if eot is None:
        what = T("d.no_eos") if d.tokenizer.eos_token_id is None else T("d.no_eot", template=d.template)
        return [Finding.of("EOS_MISSING", "error", T("d.eos_missing", what=what), T("d.eos_missing.fix"),
                           rows_of(d.renders))]
    bad = [r for r in d.renders if not r.truncated and any(
        r.input_ids[e - 1] != eot for s, e in r.turn_spans if e > s and any(l != IGNORE for l in r.labels[s:e]))]
    if not bad:
        return []
    sample = next(x for x in bad)
    last = next(sample.token_text[e - 1] for s, e in sample.turn_spans if sample.input_ids[e - 1] != eot)
    return [Finding.of("EOS_MISSING", "error", T("d.eos_not_last", where=Rows(rows_of(bad)), last=repr(last),
                                                  eot=repr(_eot_name(d, eot))),
                       T("d.eos_not_last.fix"), rows_of(bad))]


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
        real_txt = T("d.eos_split_real", real=real) if real is not None else ""
        rows = sorted(set(rows))
        out.append(Finding.of("EOS_SPLIT", "error", T("d.eos_split", where=Rows(rows), lit=repr(lit), pieces=pieces,
                                                      enc=enc, real=real_txt),
                              T("d.eos_split.fix", lit=repr(lit)), rows))
    return out


def _eos_masked(d: DoctorInput) -> list[Finding]:
    out = []
    masked = [r for r in d.renders if not r.truncated for s, e in r.turn_spans[-1:] if r.labels[e - 1] == IGNORE
              and any(l != IGNORE for l in r.labels[s:e - 1])]
    if masked:
        out.append(Finding.of("EOS_MASKED", "error", T("d.eos_masked", where=Rows(rows_of(masked))),
                              T("d.eos_masked.fix"), rows_of(masked)))
    pad, stops = d.tokenizer.pad_token_id, stop_token_ids(d.template, d.tokenizer)
    if pad is None or pad in stops:
        what = T("d.no_pad") if pad is None else T("d.pad_is_eot", pad=repr(d.tokenizer.pad_token))
        out.append(Finding.of("EOS_MASKED", "info", T("d.pad", what=what), T("d.pad.fix")))
    return out


def _drift_at(conv: Conversation, rendered: Rendered, template: str, tokenizer) -> tuple[int, int] | None:
    """(turn index, first differing token) where the inference prompt is not a prefix of the training text."""
    for i in range(len(conv.turns)):
        prompt = render(Conversation(conv.system, conv.turns[:i + 1], conv.rows), template, tokenizer,
                        add_generation_prompt=True).input_ids
        if rendered.input_ids[:len(prompt)] != prompt:
            k = next((j for j, (a, b) in enumerate(zip(prompt, rendered.input_ids)) if a != b),
                     min(len(prompt), len(rendered.input_ids)))
            return i, k
    return None


def _stable_templates(conv: Conversation, d: DoctorInput) -> list[str]:
    """The other templates whose control tokens are whole in this vocabulary and whose prompt stays a prefix of
    the training text for `conv`: what the fix can honestly recommend (the model's own first)."""
    names = [n for n in template_names() if n != d.template]
    names.sort(key=lambda n: not get_template(n).own_template)
    out = []
    for name in names:
        if get_template(name).own_template and not getattr(d.tokenizer, "chat_template", None):
            continue
        try:
            r = render(conv, name, d.tokenizer)
            if r.split_controls or end_of_turn_id(name, d.tokenizer) is None:
                continue
            if _drift_at(conv, r, name, d.tokenizer) is None:
                out.append(name)
        except Exception:  # a family this tokenizer cannot render is simply not recommended
            continue
    return out


def _boundary_drift(d: DoctorInput) -> list[Finding]:
    drifted: list[int] = []
    example, first = "", None
    for conv, r in zip(d.convs, d.renders):
        if r.truncated:
            continue  # reported as TRUNCATED; its tail cannot be compared
        at = _drift_at(conv, r, d.template, d.tokenizer)
        if at is None:
            continue
        i, k = at
        drifted.append(conv.rows[i])
        if first is None:
            first = conv
            prompt = render(Conversation(conv.system, conv.turns[:i + 1], conv.rows), d.template, d.tokenizer,
                            add_generation_prompt=True)
            example = T("d.drift_example", row=conv.rows[i], k=k, prompt=repr(prompt.token_text[k:k + 2]),
                        train=repr(r.token_text[k:k + 2]))
    if first is None:
        return []
    stable = _stable_templates(first, d)
    fix = T("d.drift.fix_use", template=d.template, templates=", ".join(stable)) if stable else \
        T("d.drift.fix", template=d.template)
    return [Finding.of("BOUNDARY_DRIFT", "warning", T("d.drift", where=Rows(drifted), example=example),
                       fix, drifted)]


def _no_trained(d: DoctorInput) -> list[Finding]:
    empty = [r for r in d.renders if all(l == IGNORE for l in r.labels)]
    if not empty:
        return []
    why = T("d.unlocated") if any(r.unlocated_turns for r in empty) else ""
    return [Finding.of("NO_TRAINED_TOKENS", "error", T("d.no_trained", where=Rows(rows_of(empty)), why=why),
                       T("d.no_trained.fix"), rows_of(empty))]


def _truncated(d: DoctorInput) -> list[Finding]:
    cut = [r for r in d.renders if r.truncated]
    if not cut:
        return []
    longest = max(r.full_length for r in cut)
    suggest = -(-longest // 64) * 64
    return [Finding.of("TRUNCATED", "error", T("d.truncated", where=Rows(rows_of(cut)), max_length=d.max_length,
                                                longest=longest),
                       T("d.truncated.fix", suggest=suggest), rows_of(cut))]


def ignores_generation_prompt(tokenizer) -> str:
    """The header a chat template appends whether or not add_generation_prompt is set ('' if it honours the flag).
    Meta's first Meta-Llama-3-8B-Instruct release did this; llama.cpp keeps it as a regression case."""
    msgs = [{"role": "user", "content": "x"}]
    try:
        on = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        off = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
    except Exception:  # noqa: BLE001 - a broken model template is not this check's problem
        return ""
    if on != off or "x" not in on:
        return ""
    tail = on[on.rindex("x") + 1:]
    closes = [s for s in special_strings(tokenizer) if tail.startswith(s)]
    return tail[len(closes[0]):] if closes else ""


def _template_mismatch(d: DoctorInput) -> list[Finding]:
    if get_template(d.template).own_template or not getattr(d.tokenizer, "chat_template", None):
        return []
    header = ignores_generation_prompt(d.tokenizer)
    differ, example, only_header = [], "", False
    for conv, r in list(zip(d.convs, d.renders))[:MISMATCH_SAMPLE]:
        try:
            theirs = render(conv, "model", d.tokenizer)
        except Exception:  # a broken model template is not this template's problem
            return []
        ids = theirs.input_ids
        if header and ids[:len(r.input_ids)] == r.input_ids and theirs.text[len(r.text):] == header:
            only_header = True  # the same conversation, plus the header this template always appends
            continue
        if ids != r.input_ids:
            differ.append(conv.rows[0])
            if not example:
                k = next((j for j, (a, b) in enumerate(zip(r.input_ids, ids)) if a != b),
                         min(len(r.input_ids), len(ids)))
                example = T("d.mismatch_example", row=conv.rows[0], k=k, template=d.template,
                            ours=repr("".join(r.token_text[k:k + 3])), theirs=repr("".join(theirs.token_text[k:k + 3])))
    found = [Finding.of("TEMPLATE_GEN_HEADER", "info", T("d.gen_header", header=repr(header), template=d.template),
                        T("d.gen_header.fix", template=d.template))] if only_header else []
    if not differ:
        return found
    return found + [Finding.of("TEMPLATE_MISMATCH", "warning", T("d.mismatch", where=Rows(differ),
                                                                  template=d.template, example=example),
                               T("d.mismatch.fix"), differ)]


def _stop_token(d: DoctorInput) -> list[Finding]:
    eot = end_of_turn_id(d.template, d.tokenizer)
    if eot is None:
        return []
    default_stops = d.generation_eos_ids if d.generation_eos_ids else [d.tokenizer.eos_token_id]
    if eot in default_stops:
        return []
    names = ", ".join(repr(d.tokenizer.convert_ids_to_tokens(i)) for i in default_stops if i is not None) or "none"
    return [Finding.of("STOP_TOKEN", "warning", T("d.stop", eot=repr(_eot_name(d, eot)), id=eot, names=names),
                       T("d.stop.fix", ids=stop_token_ids(d.template, d.tokenizer)))]



def _untrained_stop(d: DoctorInput) -> list[Finding]:
    eot = end_of_turn_id(d.template, d.tokenizer)
    if eot is None or eot not in d.untrained_ids:
        return []
    fix = T("d.untrained_stop.fix_gemma") if get_template(d.template).eos_variant == "gemma-eos" and \
        d.tokenizer.convert_ids_to_tokens(eot) == "<end_of_turn>" else T("d.untrained_stop.fix")
    return [Finding.of("UNTRAINED_STOP", "error", T("d.untrained_stop", eot=repr(_eot_name(d, eot)), id=eot,
                                                     template=d.template), fix, rows_of(d.renders))]


def _empty_answer(d: DoctorInput) -> list[Finding]:
    """A turn whose answer is empty trains the end-of-turn token right after the prompt: the model learns to say
    nothing (the Persona tab flags the row; training would not)."""
    rows = sorted({row for c in d.convs for (_, answer), row in zip(c.turns, c.rows) if not answer.strip()})
    if not rows:
        return []
    return [Finding.of("EMPTY_ANSWER", "error", T("d.empty_answer", where=Rows(rows)), T("d.empty_answer.fix"),
                       rows)]


def _no_dialogs(d: DoctorInput) -> list[Finding]:
    """A hint, not an error: a persona of single questions only never shows the model its own earlier replies, and
    multi-turn evaluation finds such characters drifting after a few turns (style pressure, 'are you an AI?')."""
    if len(d.convs) < SINGLE_TURN_HINT or any(len(c.turns) > 1 for c in d.convs):
        return []
    return [Finding.of("NO_MULTI_TURN", "info", T("d.no_dialogs", n=len(d.convs)), T("d.no_dialogs.fix"))]
