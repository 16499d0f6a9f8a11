"""`train`, `runs` and `stop` (and the hidden `_worker`/`_launch` the launcher starts)."""
from __future__ import annotations

import argparse
import json
import sys

from studio.core.errors import StudioError


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from studio.core.workspace import runs_dir
    from studio.jobs.folders import find_run
    from studio.jobs.launcher import wait
    from studio.train.config import TrainConfig
    from studio.train.launch import resume_run, start_run

    runs = runs_dir(args.runs_dir)
    if args.resume:
        run = resume_run(find_run(args.resume, runs), runs)
    else:
        from studio.core.settings import given_flags
        from studio.train.recipes import recipe
        given = given_flags(args, TrainConfig)
        cfg = TrainConfig.load(args.config) if args.config else recipe(args.model or "default")
        from studio.train.methods import get_method
        # a preference run: its parent's settings, the method's defaults
        if get_method(given.get("method", cfg.method)).needs_parent and not args.config:
            cfg = _preference_base(given, runs)
        cfg = TrainConfig.from_dict({**asdict(cfg), **given}, "command line")
        if not cfg.needs_parent and not cfg.data:
            raise StudioError("err.train.no_data")
        warnings: list = []
        run = start_run(cfg, runs, warnings=warnings)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    print(run, flush=True)
    if args.detach:
        return 0
    status = wait(run, echo=lambda line: print(line, file=sys.stderr, flush=True))
    from studio.jobs.status import State
    return 0 if status.state in (State.FINISHED, State.STOPPED) else 1


def _preference_base(given: dict, runs):
    """The settings a preference run starts from: its parent's, with the method's defaults; --model, if given, must
    be the parent's base."""
    from studio.train.config import TrainConfig
    from studio.train.preference_launch import parent_of
    from studio.train.recipes import preference_recipe
    probe = TrainConfig(method=given["method"], parent_run=given.get("parent_run", ""))
    parent, parent_cfg = parent_of(probe, runs)
    from studio.core.models import resolve
    from studio.format.contract import Contract
    base = Contract.load(parent.adapter).base_model_path
    if given.get("model") is not None and resolve(given["model"]) != base:
        raise StudioError("err.prefs.other_base", run=parent.id, model=given["model"], base=base)
    return preference_recipe(parent_cfg, given["method"])


def cmd_improve(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.jobs.folders import Run
    from studio.locale import render
    from studio.train.improve import ImproveSettings, improve

    runs = runs_dir(args.runs_dir)

    def say(fraction: float, message) -> None:
        if message is not None:
            print(f"[{fraction:4.0%}] {render(message, 'en')}", file=sys.stderr, flush=True)
    rounds = improve(args.start, runs, ImproveSettings(
        rounds=args.rounds, samples=args.samples, general=args.general, votes=args.votes or "",
        max_steps=args.max_steps, learning_rate=args.lr or ImproveSettings.learning_rate,
        max_new_tokens=args.max_new_tokens), say=say)
    kept = [r for r in rounds if r.kept]
    if args.json:
        from dataclasses import asdict
        print(json.dumps([asdict(r) for r in rounds], ensure_ascii=False, indent=1))
    for r in rounds:
        print(f"round {r.index}: {r.parent} -> {r.child or '-'}: {r.pairs} pairs ({r.from_votes} from votes), "
              f"{'kept' if r.kept else 'not kept: ' + '; '.join(r.failed)}", file=sys.stderr)
    print(Run(runs / (kept[-1].child if kept else rounds[0].parent)).path)   # the last kept run, last
    return 0 if kept else 1


def cmd_worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.train.worker import run_worker
    return run_worker(Path(args.run), resume=args.resume)


def cmd_launch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.train.distributed import supervise
    return supervise(Path(args.run), resume=args.resume)


def cmd_runs(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.jobs.runs import list_runs

    runs = list_runs(runs_dir(args.runs_dir))
    if args.json:
        print(json.dumps([{"id": r.id, "path": str(r.path), **r.status.to_dict()} for r in runs], ensure_ascii=False,
                         indent=1, default=str))
    else:
        for r in runs:
            err = f"  ({r.status.error})" if r.status.error else ""
            print(f"{r.id}  {r.state:9} step {r.status.steps}{err}")
        if not runs:
            print("no runs yet")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.jobs.folders import find_run
    from studio.jobs.launcher import request_stop

    run = find_run(args.run, runs_dir(args.runs_dir))
    request_stop(run)
    print(f"stop requested for {run.name}: it saves and stops at the next step boundary")
    return 0


def add_parsers(sub, commands: dict) -> None:
    from studio.core.settings import add_flags
    from studio.train.config import TrainConfig
    p = sub.add_parser("train", help="train a LoRA adapter in a background process; prints the run directory")
    add_flags(p, TrainConfig)  # every training setting, from its declaration
    p.add_argument("--config", help="run.yaml; flags override it")
    p.add_argument("--resume", metavar="R", help="continue a stopped or failed run from its last checkpoint")
    p.add_argument("--runs-dir")
    p.add_argument("--detach", action="store_true", help="return at once instead of following the run")
    p = sub.add_parser("_worker", help=argparse.SUPPRESS)
    p.add_argument("run")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("_launch", help=argparse.SUPPRESS)
    p.add_argument("run")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("runs", help="list runs with their status")
    p.add_argument("--runs-dir")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("stop", help="ask a run to stop at the next step boundary (its adapter is saved)")
    p.add_argument("--run", required=True)
    p.add_argument("--runs-dir")
    p = sub.add_parser("improve", help="improvement rounds: sample replies, pair them by the persona's rules (your "
                                       "votes win), train a DPO child, keep it if no guard fails")
    p.add_argument("--from", dest="start", required=True, metavar="RUN", help="the finished run to improve")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--samples", type=int, default=4, help="replies sampled to every prompt")
    p.add_argument("--general", type=int, default=24, help="general questions from the shipped pool, each round")
    p.add_argument("--votes", help="a votes or preference file: its pairs join and win on their prompts")
    p.add_argument("--max-steps", type=int, help="DPO steps a round (default: the method's)")
    p.add_argument("--lr", type=float, help="DPO learning rate a round (default 5e-5)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--runs-dir")
    p.add_argument("--json", action="store_true")
    commands["improve"] = cmd_improve
    commands["train"] = cmd_train
    commands["_worker"] = cmd_worker
    commands["_launch"] = cmd_launch
    commands["runs"] = cmd_runs
    commands["stop"] = cmd_stop
