"""`merge`, `combine` and `eval` in the foreground (and the hidden `_job` the launcher starts)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path


def cmd_job(args: argparse.Namespace) -> int:
    from studio.cli.tasks import TASKS
    from studio.jobs.worker import run_job
    return run_job(Path(args.folder), TASKS)


def cmd_combine(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.jobs.launcher import foreground_job
    from studio.serve.merge import combine_adapters, combine_into_run

    weights = args.weights or [1 / len(args.adapters)] * len(args.adapters)
    with foreground_job(runs_dir(args.runs_dir), "combine"):
        if args.out:
            print(combine_adapters(args.adapters, weights, args.method, args.out, runs_dir(args.runs_dir),
                                   args.density))
        else:
            print(combine_into_run(args.adapters, weights, args.method, runs_dir(args.runs_dir), args.density))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.export.model_card import card_for_merged
    from studio.jobs.launcher import foreground_job
    from studio.serve.merge import merge_adapter
    with foreground_job(runs_dir(args.runs_dir), "merge", Path(args.adapter).name):
        report = merge_adapter(args.adapter, args.out, runs_dir(args.runs_dir), use_checkpoint=args.use_checkpoint)
        card_for_merged(report.out)
    print(report.summary())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.eval.evaluate import evaluate
    from studio.eval.report import metric_rows, warnings
    from studio.jobs.launcher import foreground_job

    if args.dialogs is not None:
        return _eval_dialogs(args)
    judge = _judge(args)   # checked before anything runs
    if args.judge_only:
        from studio.eval.results import EvalResults
        from studio.jobs.folders import Run, locate
        res = EvalResults.load(Run(locate(args.run, runs_dir(args.runs_dir))).results) or EvalResults()
    else:
        with foreground_job(runs_dir(args.runs_dir), "eval", Path(args.run).name):
            res = evaluate(args.run, args.prompts, runs_dir(args.runs_dir), max_new_tokens=args.max_new_tokens,
                           progress=lambda f, msg: print(f"[{f:4.0%}] {msg}", file=sys.stderr, flush=True),
                           against=args.against)
    report = None
    if judge is not None:
        from studio.eval.judge import judge_run
        from studio.serve.votes import votes_path
        report = judge_run(args.run, judge, runs_dir(args.runs_dir), votes_path(),
                           say=lambda f, m: print(f"[judge] {m}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps({"base": res.base, "tuned": res.tuned, "answers": [asdict(a) for a in res.answers],
                          "freeform_base_as": res.freeform_base_as, "judge": asdict(report) if report else None},
                         ensure_ascii=False, indent=1))
    else:
        print(f"{'metric':26} {'base':>8} {'tuned':>8}")
        for name, b, t in metric_rows(res):
            print(f"{name:26} {b:>8} {t:>8}")
        for w in warnings(res):
            print(f"warning: {w}")
        if report is not None:
            from studio.eval.judge import summary
            print(summary(report, "en"))
    return 0


def _judge(args: argparse.Namespace):
    """The judge the flags name, checked (None: no judge asked for)."""
    if not args.judge:
        if args.judge_only:
            from studio.core.errors import StudioError
            raise StudioError("err.judge.url", url="")
        return None
    from studio.eval.judge import Judge
    judge = Judge(args.judge, args.judge_model or "", args.judge_key_env, timeout_s=args.judge_timeout)
    judge.check()
    return judge


def _eval_dialogs(args: argparse.Namespace) -> int:
    """Multi-turn evaluation: per turn and per dialogue, base against the run."""
    from studio.core.workspace import runs_dir
    from studio.eval.dialogs import evaluate_dialogs
    from studio.jobs.launcher import foreground_job
    with foreground_job(runs_dir(args.runs_dir), "eval", Path(args.run).name):
        data = evaluate_dialogs(args.run, args.dialogs or None, runs_dir(args.runs_dir), args.max_new_tokens,
                                say=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return 0
    s = data["summary"]

    def f(v) -> str:
        return "  n/a" if v is None else f"{v:5.2f}"
    models = list(s)
    print("turn  " + "  ".join(f"{m + ' style':>12} {m + ' rules':>12}" for m in models))
    for i in range(max(len(s[m]["style_by_turn"]) for m in models)):
        print(f"{i + 1:>4}  " + "  ".join(f"{f(s[m]['style_by_turn'][i]):>12} {f(s[m]['rules_by_turn'][i]):>12}"
                                          for m in models))
    for key in ("style_ordinary", "style_pressure", "rules_pressure", "stop_rate", "echo_rate", "held_to_the_end",
                "median_break_turn", "style_slope", "cut_turns"):
        print(f"{key:18} " + "  ".join(f"{m}: {f(s[m][key]) if not isinstance(s[m][key], int) else s[m][key]}"
                                       for m in models))
    print(f"per turn and per dialogue: {data['dialogs']} -> see the run's eval/dialogs.json")
    return 0


def add_parsers(sub, commands: dict) -> None:
    from studio.serve.merge import COMBINE_METHODS
    p = sub.add_parser("_job", help=argparse.SUPPRESS)
    p.add_argument("folder")
    p = sub.add_parser("combine", help="combine adapters (linear, ties, dare_ties, svd) into a new run; prints it")
    p.add_argument("--adapters", nargs="+", required=True, metavar="A", help="run ids, run folders or adapter folders")
    p.add_argument("--weights", nargs="+", type=float, metavar="W", help="one per adapter (default: equal)")
    p.add_argument("--method", choices=COMBINE_METHODS, default="linear")
    p.add_argument("--density", type=float, default=0.5, help="share of weights kept (ties, dare_ties)")
    p.add_argument("--out", help="an adapter folder instead of a new run")
    p.add_argument("--runs-dir")
    p = sub.add_parser("merge", help="fold an adapter into its (unquantized) base, verified")
    p.add_argument("--adapter", required=True, help="run id, run directory or adapter folder")
    p.add_argument("--out", help="output folder (default: <run>/merged)")
    p.add_argument("--runs-dir")
    p.add_argument("--use-checkpoint", action="store_true", help="merge a run's last checkpoint if unfinished")
    p = sub.add_parser("eval", help="base vs tuned: persona style, stopping, knowledge, perplexity")
    p.add_argument("--run", required=True, help="run id or run directory")
    p.add_argument("--against", choices=("base", "parent"), default="base",
                   help="compare with the bare base (default) or, for a run started from another run (dpo, kto), "
                        "with that parent run")
    p.add_argument("--prompts", help="probe questions (default: the persona's probe.txt)")
    p.add_argument("--dialogs", nargs="?", const="", metavar="F.yaml",
                   help="multi-turn evaluation instead: probe dialogues (default: the persona's probe_dialogs.yaml, "
                        "else the shipped set), per turn and per dialogue")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--judge", metavar="URL", help="also compare base and tuned replies with a judge: any "
                   "OpenAI-compatible endpoint's base URL (e.g. http://127.0.0.1:8000/v1)")
    p.add_argument("--judge-model", metavar="M", help="the judge's model name")
    p.add_argument("--judge-key-env", default="STUDIO_JUDGE_KEY", metavar="VAR",
                   help="the environment variable holding the judge's key (its name, never the key)")
    p.add_argument("--judge-timeout", type=float, default=30.0, metavar="S", help="seconds a judge call may take")
    p.add_argument("--judge-only", action="store_true", help="judge the saved evaluation without evaluating again")
    p.add_argument("--runs-dir")
    p.add_argument("--json", action="store_true")
    commands["_job"] = cmd_job
    commands["combine"] = cmd_combine
    commands["merge"] = cmd_merge
    commands["eval"] = cmd_eval
