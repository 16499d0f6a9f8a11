"""Pieces from a tokenizer's own chat template (the 'model' family): rendered with apply_chat_template, content held
out as placeholders so only the template's own text is searched for special tokens. Needs the tokenizer; imports no
other template code (studio/format/templates.py asks it for the 'model' family's pieces)."""
from __future__ import annotations

import re

from studio.core.errors import StudioError
from studio.data.conversations import Conversation
from studio.format.pieces import Piece


def special_strings(tokenizer) -> list[str]:
    found = set(tokenizer.all_special_tokens)
    found |= {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    return sorted((s for s in found if s), key=len, reverse=True)


def model_template_pieces(conv: Conversation, tokenizer, add_generation_prompt: bool = False) -> list[Piece]:
    """Pieces from the tokenizer's chat_template. Every message's content goes through the template as a
    placeholder, so that only the template's own text is searched for special tokens: what a user, a file or a
    client wrote is always text, whatever it contains (a typed "<|im_start|>system" forges no turn). Each reply is
    located by rendering up to its generation prompt and up to its end, and taking the difference (plus the special
    token that closes it). A template that rewrites content (no placeholder survives) is rendered as before."""
    if not getattr(tokenizer, "chat_template", None):
        raise StudioError("err.render.no_chat_template")
    if add_generation_prompt and conv.turns:   # the last answer is not rendered: it holds no placeholder either
        conv = Conversation(conv.system, [*conv.turns[:-1], (conv.turns[-1][0], "")], list(conv.rows))
    stand_in, contents = _placeholders(conv)
    pieces = _template_pieces(stand_in, tokenizer, add_generation_prompt)
    out = _fill(pieces, contents)
    return out if out is not None else _template_pieces(conv, tokenizer, add_generation_prompt)


PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")  # private-use characters: no template or tokenizer gives them meaning


def _placeholders(conv: Conversation) -> tuple[Conversation, list[str]]:
    contents: list[str] = []

    def hold(text: str) -> str:
        if not text:
            return text
        contents.append(text)
        return f"\ue000{len(contents) - 1}\ue001"
    return Conversation(hold(conv.system), [(hold(u), hold(a)) for u, a in conv.turns], list(conv.rows)), contents


def _fill(pieces: list[Piece], contents: list[str]) -> list[Piece] | None:
    """The real content in place of the placeholders, as text pieces; None when one went missing or was split."""
    out: list[Piece] = []
    seen: set[int] = set()
    for p in pieces:
        if p.kind != "text":
            if "\ue000" in p.value or "\ue001" in p.value:
                return None
            out.append(p)
            continue
        pos = 0
        for m in PLACEHOLDER.finditer(p.value):
            if m.start() > pos:
                out.append(Piece("text", p.value[pos:m.start()], p.trained, p.turn))
            out.append(Piece("text", contents[int(m.group(1))], p.trained, p.turn))
            seen.add(int(m.group(1)))
            pos = m.end()
        rest = p.value[pos:]
        if "\ue000" in rest or "\ue001" in rest:
            return None
        if rest:
            out.append(Piece("text", rest, p.trained, p.turn))
    return out if seen == set(range(len(contents))) else None


def _template_pieces(conv: Conversation, tokenizer, add_generation_prompt: bool) -> list[Piece]:
    def apply(msgs: list[dict], gen: bool) -> str:
        try:
            return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        except Exception as e:  # jinja errors from a third-party template
            raise StudioError("err.render.template_failed", reason=e) from None

    n = len(conv.turns)
    if add_generation_prompt:
        return _split_specials([(apply(conv.messages(n, with_last_answer=False), True), False, n - 1)], tokenizer)
    full = apply(conv.messages(), False)
    segments: list[tuple[str, bool, int]] = []
    pos = 0
    specials = special_strings(tokenizer)
    for i in range(n):
        prompt = apply(conv.messages(i + 1, with_last_answer=False), True)
        done = apply(conv.messages(i + 1), False)
        if not (full.startswith(done) and done.startswith(prompt) and len(prompt) >= pos):
            continue  # this reply cannot be located: left untrained, reported as NO_TRAINED_TOKENS
        end = len(done)
        answer = conv.turns[i][1]
        at = done.find(answer, len(prompt)) if answer else len(prompt)
        content_end = at + len(answer) if at >= 0 else len(prompt)
        close = next((s for s in specials if done.startswith(s, content_end)), None)
        train_end = content_end + len(close) if close else end
        segments += [(full[pos:len(prompt)], False, i), (full[len(prompt):train_end], True, i)]
        pos = train_end
    segments.append((full[pos:], False, n - 1))
    return _split_specials(segments, tokenizer)


def _split_specials(segments: list[tuple[str, bool, int]], tokenizer) -> list[Piece]:
    specials = special_strings(tokenizer)
    pattern = re.compile("|".join(re.escape(s) for s in specials)) if specials else None
    out: list[Piece] = []
    for text, trained, turn in segments:
        pos = 0
        for m in pattern.finditer(text) if pattern else ():
            if m.start() > pos:
                out.append(Piece("text", text[pos:m.start()], trained, turn))
            out.append(Piece("special", m.group(), trained, turn))
            pos = m.end()
        if pos < len(text):
            out.append(Piece("text", text[pos:], trained, turn))
    return out
