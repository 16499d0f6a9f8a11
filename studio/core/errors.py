"""User-facing errors: a message key and its parameters, shown in the user's language (str() is English)."""
from __future__ import annotations

from typing import Any


class StudioError(Exception):
    """A problem the user can fix: one or two plain sentences naming what and where, and what to do.

    `StudioError("err.some_key", name=...)` names a message of studio.locale; render(lang) gives it in the
    user's language and str() in English (the CLI's language)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key, self.params = key, params
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        from studio.locale import tr
        return tr(lang, self.key, **self.params)


class ConflictError(StudioError):
    """The file on disk changed since this editor loaded it (another tab or program saved in between)."""


class Stopped(Exception):
    """The user asked the job to stop. `note` (a Text) says what was kept, shown as the stopped job's last line."""

    def __init__(self, note: Any = None) -> None:
        self.note = note
        super().__init__("stopped")
