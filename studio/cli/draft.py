"""Command line for drafting pairs with a model: `draft` writes candidates, `drafts` lists them (worst first) and
accepts or rejects them. Accepted rows join pairs.csv marked with the model that drafted them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_draft(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.eval.prompts import read_prompts
    from studio.jobs.launcher import foreground_job
    from studio.locale import render
    from studio.serve.drafting import DraftRequest, draft
    questions = list(args.question or []) + ([p.question for p in read_prompts(args.questions)]
                                             if args.questions else [])
    topics = [t.strip() for t in (args.topics or "").split(",") if t.strip()]
    req = DraftRequest(data=args.data, questions=questions, topics=topics, model=args.model or "default",
                       run=args.run or "", merged=args.merged, examples=args.examples,
                       per_topic=args.per_topic, max_new_tokens=args.max_new_tokens)
    with foreground_job(runs_dir(args.runs_dir), "draft", Path(args.data).name):
        summary = draft(req, runs_dir(args.runs_dir), lambda f, m: m is not None and print(
            f"[{f:4.0%}] {render(m, 'en')}", file=sys.stderr, flush=True))
    print(render(summary, "en"))
    print(f"review: python -m studio drafts --data {args.data}")
    return 0


def _ids(text: str | None, pending: list) -> list[str]:
    if not text:
        return []
    return [c.id for c in pending] if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]


def cmd_drafts(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.data import drafts as dr
    from studio.data.persona_store import load_persona_with_revision, save_persona

    folder = Path(args.data)
    persona, revision = load_persona_with_revision(folder)
    cands = dr.load_candidates(folder)
    pending = dr.review_list(cands, persona)
    accept, reject = _ids(args.accept, pending), _ids(args.reject, pending)
    unknown = sorted(set(accept + reject) - {c.id for c in pending})
    if unknown:
        raise StudioError("err.draft.unknown_ids", ids=", ".join(unknown))
    if accept:
        pairs = dr.accepted_pairs(cands, accept, {})
        persona.pairs += pairs
        save_persona(persona, folder, expected_revision=revision)
        dr.decide(folder, {cid: (dr.ACCEPTED, None) for cid in accept})
        print(f"added {len(pairs)} rows to {folder / 'pairs.csv'}")
    if reject:
        dr.decide(folder, {cid: (dr.REJECTED, None) for cid in reject})
        print(f"rejected {len(reject)} candidates")
    if accept or reject:
        return 0
    if args.json:
        print(json.dumps([{"id": c.id, "question": c.question, "answer": c.answer, "model": c.model,
                           "problems": [p.render("en") for p in c.problems]} for c in pending], ensure_ascii=False,
                         indent=1))
        return 0
    for c in pending:
        print(f"#{c.id} [{c.model}] {c.question}\n    {c.answer}\n    "
              f"{'; '.join(p.render('en') for p in c.problems) or 'ok'}")
    print(f"{len(pending)} candidates pending; accept with --accept 1,2 (or all), reject with --reject")
    return 0


def add_parsers(sub, commands: dict) -> None:
    p = sub.add_parser("draft", help="draft answers for new questions with a model (candidates, for review)")
    p.add_argument("--data", required=True, help="persona folder")
    p.add_argument("--questions", help="a file of questions (TXT, or CSV/JSONL with a question column)")
    p.add_argument("--question", action="append", help="a question (repeatable)")
    p.add_argument("--topics", help="comma-separated topics the model proposes questions about")
    p.add_argument("--per-topic", type=int, default=5)
    p.add_argument("--model", help="base model that drafts: 'default', a preset, a folder or hub id")
    p.add_argument("--run", help="draft with this run's adapter (or, with --merged, its merged model)")
    p.add_argument("--merged", action="store_true")
    p.add_argument("--examples", type=int, default=4, help="existing pairs shown to the model as examples")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--runs-dir")
    p = sub.add_parser("drafts", help="list drafted candidates (worst first), or accept/reject them")
    p.add_argument("--data", required=True, help="persona folder")
    p.add_argument("--accept", metavar="IDS", help="comma-separated ids, or all")
    p.add_argument("--reject", metavar="IDS", help="comma-separated ids, or all")
    p.add_argument("--json", action="store_true")
    commands.update(draft=cmd_draft, drafts=cmd_drafts)
