"""Command line: python -m studio <command>. See README.md and ../shared/DESIGN.md for the contract."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from studio.errors import StudioError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def _warn(warnings: list) -> None:
    for w in warnings:
        print(f"warning: {w.render('en') if hasattr(w, 'render') else w}", file=sys.stderr)


def _refuse_existing(out: str, force: bool) -> None:
    from pathlib import Path
    if Path(out).exists() and not force:
        raise StudioError("err.cli.exists", out=out)


@command("validate")
def cmd_validate(args: argparse.Namespace) -> int:
    from studio.format.findings import has_errors
    from studio.data.persona_store import load_persona_checked
    from studio.data.validate import validate_persona

    persona, warnings = load_persona_checked(args.data)
    _warn(warnings)
    findings = validate_persona(persona)
    if args.json:
        print(json.dumps({"rows": len(persona.pairs), "findings": [f.to_dict() for f in findings],
                          "warnings": [w.render("en") for w in warnings]},
                         ensure_ascii=False, indent=1))
    else:
        print(f"{len(persona.pairs)} rows")
        for f in findings:
            print(f"{f.severity.upper():7} {f.code}: {f.message}\n        fix: {f.fix}")
        if not findings:
            print("no findings")
    return 1 if has_errors(findings) else 0


@command("convert")
def cmd_convert(args: argparse.Namespace) -> int:
    from studio.data.exporters import export_pairs
    from studio.data.persona_store import load_persona_checked

    _refuse_existing(args.out, args.force)
    persona, warnings = load_persona_checked(args.data)
    _warn(warnings)
    out = export_pairs(persona, args.out)
    print(f"wrote {len(persona.pairs)} rows to {out}")
    return 0


def _format_inputs(args: argparse.Namespace):
    from studio.format.formatting import FormatSettings, render_persona
    from studio.models import generation_eos_ids, load_tokenizer
    from studio.data.persona_store import load_persona_checked

    persona, warnings = load_persona_checked(args.data)
    _warn(warnings)
    tok = load_tokenizer(args.tokenizer, trust_remote_code=args.trust_remote_code)
    settings = FormatSettings(template=args.template, max_length=args.max_length, system_override=args.system)
    return render_persona(persona, tok, settings, generation_eos_ids(args.tokenizer))


@command("format")
def cmd_format(args: argparse.Namespace) -> int:
    from studio.format.formatting import export_rendered

    _refuse_existing(args.out, args.force)
    result = _format_inputs(args)
    out = export_rendered(result, args.out)
    print(f"wrote {len(result.renders)} examples to {out}")
    for f in result.findings:
        if f.severity == "error":
            print(f"error {f.code}: {f.message}", file=sys.stderr)
    return 0


@command("doctor")
def cmd_doctor(args: argparse.Namespace) -> int:
    from studio.format.findings import has_errors

    findings = _format_inputs(args).findings
    if args.json:
        print(json.dumps({"findings": [f.to_dict() for f in findings]}, ensure_ascii=False, indent=1))
    else:
        for f in findings:
            print(f"{f.severity.upper():7} {f.code}: {f.message}\n        fix: {f.fix}")
        if not findings:
            print("no findings: the template, tokenizer and data agree")
    return 1 if has_errors(findings) else 0


def _add_format_args(p: argparse.ArgumentParser) -> None:
    from studio.format.templates import TEMPLATE_NAMES
    p.add_argument("--data", required=True, help="persona folder or CSV/TSV/JSONL file")
    p.add_argument("--tokenizer", required=True, help="local folder, hub id, or 'default'")
    p.add_argument("--template", required=True, choices=TEMPLATE_NAMES)
    p.add_argument("--system", default=None, help="system prompt (default: the persona's)")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow the tokenizer's own Python code to run (only for sources you trust)")


@command("prepare-model")
def cmd_prepare_model(args: argparse.Namespace) -> int:
    from studio.default_model import prepare_default_model

    if args.name not in ("default", "SmolLM2-135M-Instruct"):
        raise StudioError("err.__main__.1", name=args.name)
    path = prepare_default_model(progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True))
    print(path)
    return 0


# `train` flags that override the config file, by TrainConfig field name
OVERRIDES = ("model", "data", "template", "max_steps", "replay_share", "replay_system", "replay_prompts",
             "packing", "num_processes", "strategy", "num_machines", "machine_rank", "main_address", "main_port")


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from studio.train.config import TrainConfig
    from studio.train.launch import resume_run, start_run, wait
    from studio.train.runs import find_run
    from studio.workspace import runs_dir

    runs = runs_dir(args.runs_dir)
    if args.resume:
        run = resume_run(find_run(args.resume, runs), runs)
    else:
        from studio.train.recipes import recipe
        cfg = TrainConfig.load(args.config) if args.config else recipe(args.model or "default")
        for name in OVERRIDES:
            if getattr(args, name, None) is not None:
                setattr(cfg, name, getattr(args, name))
        if not cfg.data:
            raise StudioError("err.__main__.2")
        cfg.allow_doctor_errors = cfg.allow_doctor_errors or args.allow_doctor_errors
        warnings: list = []
        run = start_run(cfg, runs, warnings=warnings)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    print(run, flush=True)
    if args.detach:
        return 0
    status = wait(run, echo=lambda line: print(line, file=sys.stderr, flush=True))
    from studio.jobs.status import State
    return 0 if status.get("state") in (State.FINISHED, State.STOPPED) else 1


@command("_worker")
def cmd_worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.train.worker import run_worker
    return run_worker(Path(args.run), resume=args.resume)


@command("_launch")
def cmd_launch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.train.distributed import supervise
    return supervise(Path(args.run), resume=args.resume)


@command("_job")
def cmd_job(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.jobs.worker import run_job
    return run_job(Path(args.folder))


@command("combine")
def cmd_combine(args: argparse.Namespace) -> int:
    from studio.serve.merge import combine_into_run, combine_adapters
    from studio.workspace import runs_dir

    weights = args.weights or [1 / len(args.adapters)] * len(args.adapters)
    if args.out:
        print(combine_adapters(args.adapters, weights, args.method, args.out, runs_dir(args.runs_dir), args.density))
    else:
        print(combine_into_run(args.adapters, weights, args.method, runs_dir(args.runs_dir), args.density))
    return 0


@command("runs")
def cmd_runs(args: argparse.Namespace) -> int:
    from studio.train.runs import list_runs
    from studio.workspace import runs_dir

    runs = list_runs(runs_dir(args.runs_dir))
    if args.json:
        print(json.dumps([{"id": r.id, "path": str(r.path), **r.status} for r in runs], ensure_ascii=False,
                         indent=1, default=str))
    else:
        for r in runs:
            err = f"  ({r.status['error']})" if r.status.get("error") else ""
            print(f"{r.id}  {r.state:9} step {r.status.get('step', 0)}/{r.status.get('total', '?')}{err}")
        if not runs:
            print("no runs yet")
    return 0


@command("stop")
def cmd_stop(args: argparse.Namespace) -> int:
    from studio.train.runs import find_run, request_stop
    from studio.workspace import runs_dir

    run = find_run(args.run, runs_dir(args.runs_dir))
    request_stop(run)
    print(f"stop requested for {run.name}: it saves and stops at the next step boundary")
    return 0


@command("generate")
def cmd_generate(args: argparse.Namespace) -> int:
    from studio.serve.chat import ChatEngine, GenSettings, Row
    from studio.serve.merge import adapter_dir
    from studio.models import resolve
    from studio.eval.prompts import read_prompts
    from studio.workspace import runs_dir

    prompts = read_prompts(args.prompts)
    engine = ChatEngine(resolve(args.model))
    contract, name = engine.own_contract, None
    if args.adapter:
        contract, name = engine.add_adapter("adapter", adapter_dir(args.adapter, runs_dir(None))), "adapter"
    settings = GenSettings(max_new_tokens=args.max_new_tokens, seed=args.seed)
    answers = []
    for i in range(0, len(prompts), args.batch_size):
        chunk = prompts[i:i + args.batch_size]
        replies = engine.generate([Row(name, contract, [], p.question) for p in chunk], settings)
        answers += [{"prompt": p.question, "answer": r.text, "stopped": r.stopped, "new_tokens": r.new_tokens}
                    for p, r in zip(chunk, replies)]
    if args.json:
        print(json.dumps({"answers": answers}, ensure_ascii=False, indent=1))
    else:
        for a in answers:
            print(f"Q: {a['prompt']}\nA: {a['answer']}{'' if a['stopped'] else '  [cut at max tokens]'}\n")
    return 0


@command("merge")
def cmd_merge(args: argparse.Namespace) -> int:
    from studio.serve.merge import merge_adapter
    from studio.workspace import runs_dir

    report = merge_adapter(args.adapter, args.out, runs_dir(args.runs_dir), use_checkpoint=args.use_checkpoint)
    print(report.summary())
    return 0


@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    from studio.eval.evaluate import evaluate
    from studio.eval.report import metric_rows, warnings
    from studio.workspace import runs_dir

    res = evaluate(args.run, args.prompts, runs_dir(args.runs_dir), max_new_tokens=args.max_new_tokens,
                   progress=lambda f, msg: print(f"[{f:4.0%}] {msg}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps({k: res[k] for k in ("base", "tuned", "answers")}, ensure_ascii=False, indent=1))
    else:
        print(f"{'metric':26} {'base':>8} {'tuned':>8}")
        for name, b, t in metric_rows(res):
            print(f"{name:26} {b:>8} {t:>8}")
        for w in warnings(res):
            print(f"warning: {w}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from studio.format.templates import TEMPLATE_NAMES
    from studio.serve.merge import COMBINE_METHODS
    from studio.train_cli import add_scale_args
    parser = argparse.ArgumentParser(prog="python -m studio", description="Persona Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a persona's rows; exit 1 on errors")
    p.add_argument("--data", required=True, help="persona folder or CSV/TSV/JSONL/card file")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("convert", help="convert between CSV, TSV and messages JSONL")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="F.csv, F.tsv or F.jsonl")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p = sub.add_parser("format", help="render the pairs with a template; write input_ids/labels JSONL")
    _add_format_args(p)
    p.add_argument("--out", required=True, help="F.jsonl (ids and labels) or F.txt (text)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p = sub.add_parser("doctor", help="check template, tokenizer and data; exit 1 on errors")
    _add_format_args(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("prepare-model", help="fetch and convert the embedded default model; print its path")
    p.add_argument("--name", default="default")
    p = sub.add_parser("train", help="train a LoRA adapter in a background process; prints the run directory")
    p.add_argument("--model")
    p.add_argument("--data")
    p.add_argument("--template", choices=TEMPLATE_NAMES)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--replay-share", type=float, help="share of training rows that are the base model's answers "
                   "to general prompts (0 = off)")
    p.add_argument("--replay-system", choices=("none", "persona"), help="render replay rows with the persona's system")
    p.add_argument("--replay-prompts", help="general prompts for replay (default: data/replay/general_prompts.txt)")
    add_scale_args(p)
    p.add_argument("--config", help="run.yaml; flags override it")
    p.add_argument("--resume", metavar="R", help="continue a stopped or failed run from its last checkpoint")
    p.add_argument("--runs-dir")
    p.add_argument("--detach", action="store_true", help="return at once instead of following the run")
    p.add_argument("--allow-doctor-errors", action="store_true", help="launch despite Template Doctor errors")
    p = sub.add_parser("_job", help=argparse.SUPPRESS)
    p.add_argument("folder")
    p = sub.add_parser("combine", help="combine adapters (linear, ties, dare_ties, svd) into a new run; prints it")
    p.add_argument("--adapters", nargs="+", required=True, metavar="A", help="run ids, run folders or adapter folders")
    p.add_argument("--weights", nargs="+", type=float, metavar="W", help="one per adapter (default: equal)")
    p.add_argument("--method", choices=COMBINE_METHODS, default="linear")
    p.add_argument("--density", type=float, default=0.5, help="share of weights kept (ties, dare_ties)")
    p.add_argument("--out", help="an adapter folder instead of a new run")
    p.add_argument("--runs-dir")
    p = sub.add_parser("_worker", help=argparse.SUPPRESS)
    p.add_argument("run")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("_launch", help=argparse.SUPPRESS)
    p.add_argument("run")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("generate", help="answer prompts with a model (and an adapter), as chat would")
    p.add_argument("--model", required=True, help="base or merged model: local folder, hub id, or 'default'")
    p.add_argument("--adapter", help="run id, run directory or adapter folder")
    p.add_argument("--prompts", required=True, help=".txt (one per line) or CSV/JSONL with a question column")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("merge", help="fold an adapter into its (unquantized) base, verified")
    p.add_argument("--adapter", required=True, help="run id, run directory or adapter folder")
    p.add_argument("--out", help="output folder (default: <run>/merged)")
    p.add_argument("--runs-dir")
    p.add_argument("--use-checkpoint", action="store_true", help="merge a run's last checkpoint if unfinished")
    p = sub.add_parser("eval", help="base vs tuned: persona style, stopping, knowledge, perplexity")
    p.add_argument("--run", required=True, help="run id or run directory")
    p.add_argument("--prompts", help="probe questions (default: the persona's probe.txt)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--runs-dir")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("runs", help="list runs with their status")
    p.add_argument("--runs-dir")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("stop", help="ask a run to stop at the next step boundary (its adapter is saved)")
    p.add_argument("--run", required=True)
    p.add_argument("--runs-dir")
    from studio.share_cli import add_parsers
    add_parsers(sub, COMMANDS)
    from studio import draft_cli
    draft_cli.add_parsers(sub, COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except StudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one sentence on screen, the traceback in the log file
        from studio.crash import explain_unexpected
        print(f"error: {explain_unexpected(e, f'cli {args.command}').render('en')}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
