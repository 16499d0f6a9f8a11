"""Command line for taking a character elsewhere: export (GGUF + Modelfile), card (SillyTavern), serve (OpenAI)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_export(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.export.export_run import export_run
    from studio.jobs.launcher import foreground_job

    with foreground_job(runs_dir(args.runs_dir), "export", str(args.run).rstrip("/").rsplit("/", 1)[-1]):
        report = export_run(args.run, args.quant, args.out, runs_dir(args.runs_dir),
                            progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True))
    for line in [c.render("en") for c in report.checks] + [f"warning: {w}" for w in report.warnings]:
        print(line)
    print(f"{report.gguf} ({report.size_mb:.1f} MB, {report.seconds:.1f} s)")
    if report.modelfile:
        name = report.gguf.stem.rsplit("-", 1)[0]
        print(f"ollama: cd {report.modelfile.parent} && ollama create {name} -f {report.modelfile.name}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from studio.data.card_export import write_card
    from studio.data.persona_store import load_persona

    if args.run:
        from studio.core.workspace import runs_dir
        from studio.export.card import write_run_card
        print(write_run_card(args.run, runs_dir(args.runs_dir), args.out, args.data, args.examples, args.image))
    else:
        print(write_card(load_persona(args.data), args.out, args.examples, avatar=args.image))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from studio.core.workspace import runs_dir
    from studio.export.push import push_run
    print(push_run(args.run, runs_dir(args.runs_dir), args.repo, args.what, args.private))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.workspace import runs_dir
    from studio.serve.models_served import ServedModels
    from studio.serve.openai_api import check_bind, create_app

    check_bind(args.host, args.api_key)
    from studio.jobs.launcher import ensure_free
    ensure_free(runs_dir(args.runs_dir))
    models = ServedModels.open(args.model, args.run or [], runs_dir(args.runs_dir))
    import uvicorn
    print(f"serving {', '.join(models.names)} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    try:
        uvicorn.run(create_app(models, args.api_key, args.host), host=args.host, port=args.port, log_level="warning",
                    timeout_graceful_shutdown=3)  # SIGTERM: in-flight generations end within seconds
    except (OSError, SystemExit) as e:
        raise StudioError("err.serve.port", host=args.host, port=args.port, reason=e) from None
    return 0


def add_parsers(sub, commands: dict) -> None:
    from studio.export.gguf_file import QUANTS
    from studio.export.push import WHAT
    p = sub.add_parser("push", help="upload a run's adapter, merged model or export to the Hugging Face Hub")
    p.add_argument("--run", required=True, help="run id or run directory")
    p.add_argument("--repo", required=True, help="the Hub repository, e.g. you/ayano-lora (created when missing)")
    p.add_argument("--what", choices=WHAT, default="adapter")
    p.add_argument("--private", action="store_true")
    p.add_argument("--runs-dir")
    commands["push"] = cmd_push

    p = sub.add_parser("export", help="a run as GGUF (+ Ollama Modelfile), verified by reading it back")
    p.add_argument("--run", required=True, help="run id or run directory (merged first if needed)")
    p.add_argument("--format", choices=("gguf",), default="gguf")
    p.add_argument("--quant", choices=QUANTS, default="q8_0")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/export)")
    p.add_argument("--runs-dir")
    p = sub.add_parser("card", help="the persona as a SillyTavern Character Card V2 (.json or .png)")
    p.add_argument("--data", required=True, help="persona folder")
    p.add_argument("--out", required=True, help="F.json or F.png")
    p.add_argument("--examples", type=int, default=8, help="pairs shown in mes_example (0 = all)")
    p.add_argument("--run", help="a run whose contract goes into the card's extensions")
    p.add_argument("--image", help="a picture for the PNG card (PNG/JPEG/WebP; default: the name drawn)")
    p.add_argument("--runs-dir")
    p = sub.add_parser("serve", help="an OpenAI-compatible API (base, run adapters, merged runs) on 127.0.0.1")
    p.add_argument("--model", help="base model: 'default', a folder or hub id (default: the first run's base)")
    p.add_argument("--run", action="append", help="run id or directory to serve (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1 unless you mean to share it)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    p.add_argument("--runs-dir")
    commands.update(export=cmd_export, card=cmd_card, serve=cmd_serve)
