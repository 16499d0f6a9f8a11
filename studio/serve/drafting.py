"""Draft answers with a model: the persona (system prompt, notes, style guide, a few existing pairs as earlier
turns) and new questions (given, or proposed by the model from topics) go in; candidates go to the persona's
drafts.jsonl for review. Any studio model drafts: a base, a run's adapter or a run's merged model; a base checkpoint
that cannot chat (the embedded Gemma 3 270M) continues the example pairs written as Q/A lines instead. Runs as the
'draft' job (or `studio draft`); a stop or a crash keeps every finished batch, and a rerun skips those questions."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.data import drafts as dr
from studio.data.conversations import group_dialogs
from studio.data.persona import Persona
from studio.locale import T, Text, loading
from studio.serve.batched import Batching, answer_all

BATCH = 16   # rows drafted together (few-shot prompts are long: the batch is bounded in tokens too)
QUESTION_LINE = re.compile(r"^\s*(?:[-*・•]|\d+[.)．、]|Q\d*[:：.])?\s*(.+?)\s*$")


@dataclass
class DraftRequest:
    data: str                               # the persona folder
    questions: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)   # the model proposes `per_topic` questions for each
    model: str = "default"                  # a base model: 'default', a preset, a folder or a hub id
    run: str = ""                           # a run id: draft with its adapter (its own base) ...
    merged: bool = False                    # ... or with its merged model
    examples: int = 4                       # existing pairs shown as earlier turns
    per_topic: int = 5
    max_new_tokens: int = 96


def drafting_system(persona: Persona) -> str:
    """The persona's system prompt, with its notes and style guide spelled out for the drafting model."""
    parts = [persona.system_prompt.strip()]
    if persona.notes.strip():
        parts.append(persona.notes.strip())
    style = persona.style
    if style.rules.strip():
        parts.append(style.rules.strip())
    if style.markers:
        parts.append("Use these forms: " + ", ".join(style.markers) + ".")
    if style.target_chars > 0:
        parts.append(f"Answer in about {style.target_chars} characters.")
    return "\n".join(p for p in parts if p)


def example_turns(persona: Persona, k: int) -> list[tuple[str, str]]:
    """k single-row pairs spread evenly over the table (not the first k, which are often alike)."""
    singles = [g[0][1] for g in group_dialogs(persona.pairs) if len(g) == 1 and g[0][1].answer.strip()]
    if k <= 0 or not singles:
        return []
    step = max(1, len(singles) // k)
    return [(p.question, p.answer) for p in singles[::step][:k]]


def parse_questions(text: str, limit: int) -> list[str]:
    out = []
    for line in text.splitlines():
        m = QUESTION_LINE.match(line)
        q = m.group(1).strip() if m else ""
        if len(q) >= 3 and q not in out:
            out.append(q)
    return out[:limit]


def _open(req: DraftRequest, runs_dir: Path):
    """(engine, adapter name or None, contract, label) for the requested model."""
    from studio.core.models import resolve
    from studio.format.contract import Contract
    from studio.serve.chat import ChatEngine
    if not req.run:
        engine = ChatEngine(resolve(req.model or "default"))
        return engine, None, engine.own_contract, req.model or "default"
    from studio.jobs.folders import resolve_run
    run = resolve_run(req.run, runs_dir)
    if req.merged:
        if not run.has_merged():
            raise StudioError("err.draft.no_merged", run=run.id)
        engine = ChatEngine(str(run.merged))
        return engine, None, engine.own_contract, f"{run.id}:merged"
    if not run.has_adapter():
        raise StudioError("err.serve.no_adapter", run=run.id)
    engine = ChatEngine(Contract.load(run.adapter).base_model_path)
    return engine, "draft", engine.add_adapter("draft", run.adapter), run.id


def draft(req: DraftRequest, runs_dir: Path, say: Callable[[float, Text | str | None], None]) -> Text:
    from studio.data.persona_store import load_persona
    from studio.serve.chat import GenSettings, Row

    folder = Path(req.data)
    persona = load_persona(folder)
    if not req.questions and not req.topics:
        raise StudioError("err.draft.no_questions")
    say(0.02, loading("draft.p.loading"))
    engine, adapter, contract, label = _open(req, runs_dir)
    from studio.core.embedded_models import is_base_checkpoint
    as_text = adapter is None and is_base_checkpoint(engine.base_path)   # a base model continues Q/A lines
    try:
        contract = replace(contract, system_prompt=drafting_system(persona), notes="", notes_in_prompt=False)
        settings = GenSettings(max_new_tokens=req.max_new_tokens)
        questions = list(dict.fromkeys(q.strip() for q in req.questions if q.strip()))
        for i, topic in enumerate(req.topics):
            say(0.05 + 0.15 * i / len(req.topics), T("draft.p.proposing", topic=topic))
            ask = (f"List {req.per_topic} different short questions a user might ask {persona.name} about "
                   f"{topic}. One question per line, nothing else.")
            reply = engine.generate([Row(adapter, replace(contract, system_prompt=""), [], ask)],
                                    replace(settings, max_new_tokens=40 * req.per_topic))[0]
            questions += [q for q in parse_questions(reply.text, req.per_topic) if q not in questions]
        have = dr.load_candidates(folder)
        done = {c.question for c in have}
        todo = [q for q in questions if q not in done]
        shots = example_turns(persona, req.examples)
        next_id, written = dr.next_id(have), 0
        say(0.2, T("draft.p.drafting", done=0, total=len(todo)))

        def keep(idx: list[int], replies: list) -> None:   # each batch saved as it ends: a stop keeps them
            nonlocal written
            batch = [dr.Candidate(str(next_id + i), todo[i], r.text.strip(), label, r.stopped)
                     for i, r in zip(idx, replies)]
            dr.add_candidates(folder, batch)
            written += len(batch)
            say(0.2 + 0.8 * written / len(todo), T("draft.p.drafting", done=written, total=len(todo)))
        if todo:
            answer_all(engine, [Row(adapter, contract, shots, q, completion=as_text) for q in todo], settings,
                       Batching(rows=BATCH), on_batch=keep)
        say(1.0, None)
    finally:
        engine.release()
    fresh = [c for c in dr.load_candidates(folder) if c.question in todo]
    not_ja = sum(any(p.key == "draft.p.not_japanese" for p in dr.check(c, persona)) for c in fresh)
    summary = T("draft.done", n=written, skipped=len(questions) - len(todo), model=label)
    if fresh and not_ja * 2 > len(fresh):
        summary = T("draft.done_not_japanese", summary=summary, n=not_ja, total=len(fresh), model=label)
    return summary
