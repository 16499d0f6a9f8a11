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


@command("validate")
def cmd_validate(args: argparse.Namespace) -> int:
    from studio.findings import has_errors
    from studio.persona_store import load_persona
    from studio.validate import validate_persona

    persona = load_persona(args.data)
    findings = validate_persona(persona)
    if args.json:
        print(json.dumps({"rows": len(persona.pairs), "findings": [f.to_dict() for f in findings]},
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
    from studio.exporters import export_pairs
    from studio.persona_store import load_persona

    persona = load_persona(args.data)
    out = export_pairs(persona, args.out)
    print(f"wrote {len(persona.pairs)} rows to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="Persona Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a persona's rows; exit 1 on errors")
    p.add_argument("--data", required=True, help="persona folder or CSV/TSV/JSONL/card file")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("convert", help="convert between CSV, TSV and messages JSONL")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="F.csv, F.tsv or F.jsonl")
    for register in _EXTRA_PARSERS:
        register(sub)
    return parser


# Later modules add their sub-commands here (format/doctor, train, chat, ...), keeping this file small.
_EXTRA_PARSERS: list[Callable[[argparse._SubParsersAction], None]] = []


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


if __name__ == "__main__":
    sys.exit(main())
