"""What the command groups share: warnings on stderr, refusing to overwrite an output."""
from __future__ import annotations

import sys

from studio.core.errors import StudioError


def warn(warnings: list) -> None:
    for w in warnings:
        print(f"warning: {w.render('en') if hasattr(w, 'render') else w}", file=sys.stderr)


def refuse_existing(out: str, force: bool) -> None:
    from pathlib import Path
    if Path(out).exists() and not force:
        raise StudioError("err.cli.exists", out=out)
