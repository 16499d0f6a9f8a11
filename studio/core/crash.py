"""The last line of defence: an unexpected exception becomes one plain sentence for the user, and its traceback
goes to a log file (workspace/logs/), never to the screen. Standard library only."""
from __future__ import annotations

import tempfile
import time
import traceback
from pathlib import Path

from studio.core.errors import StudioError
from studio.locale import T, Text

LOG_NAME = "errors.log"


def log_path() -> Path:
    """workspace/logs/errors.log, or one in the temp folder when the workspace cannot be written."""
    from studio.core.workspace import home
    for folder in (home() / "logs", Path(tempfile.gettempdir()) / "persona-studio-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / LOG_NAME, "a", encoding="utf-8"):
                return folder / LOG_NAME
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / LOG_NAME


def explain_unexpected(err: BaseException, where: str) -> Text:
    """Log the traceback and say what happened in a sentence (what to check, and where the details are)."""
    if isinstance(err, StudioError):
        return T(err.key, **err.params)
    path = log_path()
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {where}\n")
            f.write("".join(traceback.format_exception(err)))
    except OSError:
        pass
    if isinstance(err, RecursionError):
        return T("err.too_deep", log=str(path))
    if isinstance(err, OSError):
        what = err.strerror or type(err).__name__
        return T("err.os", reason=what, path=str(err.filename or ""), log=str(path))
    text = str(err).splitlines()[0][:200] if str(err) else ""
    return T("err.unexpected", kind=type(err).__name__, text=text, log=str(path))
