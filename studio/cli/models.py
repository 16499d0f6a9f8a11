"""`prepare-model` and `generate`: the embedded default model, and answers from a model (and an adapter)."""
from __future__ import annotations

import argparse
import json
import sys

from studio.core.errors import StudioError


def cmd_prepare_model(args: argparse.Namespace) -> int:
    from studio.core.embedded_models import embedded
    from studio.export.embedded import prepare_default_model
    if embedded(args.name) is None:
        raise StudioError("err.model.unknown_embedded", name=args.name)
    path = prepare_default_model(progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True),
                                 name=args.name)
    print(path)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from studio.core.models import resolve
    from studio.core.workspace import runs_dir
    from studio.eval.prompts import read_prompts
    from studio.jobs.runs import adapter_dir
    from studio.serve.chat import ChatEngine, GenSettings, Row

    prompts = read_prompts(args.prompts)
    engine = ChatEngine(resolve(args.model))
    contract, name = engine.own_contract, None
    if args.adapter:
        contract, name = engine.add_adapter("adapter", adapter_dir(args.adapter, runs_dir(None))), "adapter"
    settings = GenSettings(max_new_tokens=args.max_new_tokens, seed=args.seed)
    from studio.serve.batched import Batching, answer_all
    replies = answer_all(engine, [Row(name, contract, [], p.question) for p in prompts], settings,
                         Batching(rows=args.batch_size))
    answers = [{"prompt": p.question, "answer": r.text, "stopped": r.stopped, "new_tokens": r.new_tokens}
               for p, r in zip(prompts, replies)]
    if args.json:
        print(json.dumps({"answers": answers}, ensure_ascii=False, indent=1))
    else:
        for a in answers:
            print(f"Q: {a['prompt']}\nA: {a['answer']}{'' if a['stopped'] else '  [cut at max tokens]'}\n")
    return 0


def add_parsers(sub, commands: dict) -> None:
    p = sub.add_parser("prepare-model", help="fetch and convert an embedded model; print its path")
    p.add_argument("--name", default="default",
                   help="default (= gemma3-270m: Gemma 3 270M, Japanese, Gemma Terms of Use) or smollm2 "
                        "(SmolLM2-135M-Instruct, English, Apache-2.0)")
    p = sub.add_parser("generate", help="answer prompts with a model (and an adapter), as chat would")
    p.add_argument("--model", required=True, help="base or merged model: local folder, hub id, or 'default'")
    p.add_argument("--adapter", help="run id, run directory or adapter folder")
    p.add_argument("--prompts", required=True, help=".txt (one per line) or CSV/JSONL with a question column")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=48, help="rows decoded together (bounded in tokens too)")
    p.add_argument("--json", action="store_true")
    commands["prepare-model"] = cmd_prepare_model
    commands["generate"] = cmd_generate
