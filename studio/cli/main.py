"""Command line: python -m studio <command>. See README.md and ../shared/DESIGN.md for the contract."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from studio.core.errors import StudioError

GROUPS = ("data", "models", "train", "jobs", "share", "draft")  # modules of studio.cli, in the help's order


def build_parser(commands: dict[str, Callable[[argparse.Namespace], int]] | None = None) -> argparse.ArgumentParser:
    import importlib
    commands = {} if commands is None else commands
    parser = argparse.ArgumentParser(prog="python -m studio", description="Persona Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        importlib.import_module(f"studio.cli.{group}").add_parsers(sub, commands)
    return parser


def quiet_library_noise() -> None:
    """bitsandbytes logs that its optional CPU 4-bit kernels package is missing on every import, 4-bit or not: it
    opened every run's log. Its 4-bit path works without it (and the CPU recipe does not use 4-bit)."""
    import logging

    class _NoKernelsHint(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "gemm_4bit_forward" not in record.getMessage()
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_NoKernelsHint())


def main(argv: list[str] | None = None) -> int:
    quiet_library_noise()
    commands: dict = {}
    args = build_parser(commands).parse_args(argv)
    try:
        return commands[args.command](args)
    except StudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one sentence on screen, the traceback in the log file
        from studio.core.crash import explain_unexpected
        print(f"error: {explain_unexpected(e, f'cli {args.command}').render('en')}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
