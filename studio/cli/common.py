"""What the command groups share: warnings on stderr, refusing to overwrite an output."""
from __future__ import annotations

import sys

from studio.core.errors import StudioError


def warn(warnings: list) -> None:
    for w in warnings:
        print(f"warning: {w.render('en') if hasattr(w, 'render') else w}", file=sys.stderr)


def print_findings(findings: list, none_text: str) -> None:
    """Findings as the CLI shows them (English): severity, code, message and the fix under it."""
    for f in findings:
        print(f"{f.severity.upper():7} {f.code}: {f.message}\n        fix: {f.fix}")
    if not findings:
        print(none_text)


def refuse_existing(out: str, force: bool) -> None:
    from pathlib import Path
    if Path(out).exists() and not force:
        raise StudioError("err.cli.exists", out=out)
