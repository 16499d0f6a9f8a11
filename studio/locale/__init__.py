"""Every user-facing sentence, in English and Japanese, and the one function that renders them.

Logic modules never build a sentence from an English literal: they name a message key and its parameters
(`StudioError("err.key", name=...)`, a Finding's key, a `Text`), and whoever shows it renders it in the user's
language. The CLI renders English. No gradio and no torch here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from studio.locale.en import MESSAGES as EN
from studio.locale.ja import MESSAGES as JA

Lang = Literal["en", "ja"]
LANGS: tuple[Lang, ...] = ("en", "ja")
CATALOGS: dict[str, dict[str, str]] = {"en": EN, "ja": JA}


def lang_of(value: str | None) -> Lang:
    """'ja', 'ja-JP', 'ja,en;q=0.8' -> 'ja'; anything else -> 'en'."""
    return "ja" if (value or "").strip().lower().startswith("ja") else "en"


class Rows(list):
    """Row numbers shown to the user: rendered 'rows 3, 5' or '3, 5 行目' in the message's language."""


def format_rows(rows: list[int], lang: str = "en", limit: int = 8) -> str:
    if not rows:
        return ""
    head = ", ".join(str(r) for r in rows[:limit])
    more = tr(lang, "rows.more", n=len(rows) - limit) if len(rows) > limit else ""
    return tr(lang, "rows.one" if len(rows) == 1 else "rows.many", rows=head, more=more)


@dataclass(frozen=True)
class Text:
    """A message key and its parameters, rendered late in the reader's language. str() is English."""
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    loading: bool = field(default=False, compare=False)   # said before one long load (see `loading`)

    def render(self, lang: str = "en") -> str:
        return tr(lang, self.key, **self.params)

    def __str__(self) -> str:
        return self.render("en")


@dataclass(frozen=True)
class Rendered:
    """A message already rendered in every language (read back from a file another process wrote)."""
    texts: dict[str, str]

    def render(self, lang: str = "en") -> str:
        return self.texts.get(lang_of(lang)) or self.texts.get("en", "")

    def __str__(self) -> str:
        return self.render("en")


def T(key: str, **params: Any) -> Text:  # noqa: N802 - short on purpose: it is written everywhere
    return Text(key, params)


def loading(key: str, **params: Any) -> Text:
    """A progress message said just before one long load (a model's weights), during which the task writes nothing
    and says nothing more: a job asked to stop then may end at once (studio/jobs/worker.py)."""
    return Text(key, params, loading=True)


def _value(v: Any, lang: str) -> Any:
    if isinstance(v, Rows):
        return format_rows(list(v), lang)
    if hasattr(v, "render") and callable(v.render):  # Text, StudioError
        return v.render(lang)
    if isinstance(v, tuple):  # several messages, one after the other
        return " ".join(str(_value(x, lang)) for x in v)
    return v


def tr(lang: str | None, key: str, **params: Any) -> str:
    """The message `key` in `lang` (falling back to English), with its parameters filled in."""
    lang = lang_of(lang)
    template = CATALOGS[lang].get(key) or EN.get(key)
    if template is None:
        return key  # an untranslated free text (e.g. a library's own message) is shown as is
    values = {k: _value(v, lang) for k, v in params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return f"{template} {values}"


def render(obj: Any, lang: str | None) -> str:
    """Any message-like object (Text, StudioError, plain str) in `lang`."""
    return str(_value(obj, lang_of(lang))) if obj is not None else ""
