"""Small builders shared by the tabs: tables of findings, localized column headers."""
from __future__ import annotations

import pandas as pd

from studio.core.findings import Finding
from studio.format.templates import TEMPLATE_NAMES
from studio.locale import tr

FINDING_KEYS = ("col.severity", "col.code", "col.rows", "col.message", "col.fix")
# the findings' message and fix columns get the room: nothing is cut, headers stay on one line
FINDING_WIDTHS = ["11%", "21%", "9%", "34%", "25%"]


def headers(keys: tuple[str, ...] | list[str], lang: str) -> list[str]:
    return [tr(lang, k) for k in keys]


def findings_frame(findings: list[Finding], lang: str) -> pd.DataFrame:
    rows = []
    for f in findings:
        message, fix = f.localized(lang)
        shown = ", ".join(map(str, f.rows[:8])) + (tr(lang, "rows.more", n=len(f.rows) - 8) if len(f.rows) > 8 else "")
        rows.append([tr(lang, f"severity.{f.severity}"), f.code, shown, message, fix])
    return pd.DataFrame(rows, columns=headers(FINDING_KEYS, lang))


def template_choices(i18n) -> list[tuple]:
    """The template radio's options: the names stay (they are config values), 'model' says what it means."""
    return [(i18n("template.model") if name == "model" else name, name) for name in TEMPLATE_NAMES]


def localized_columns(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Column names that have a 'col.NAME' text shown in `lang` (the data keeps its own names)."""
    return frame.rename(columns={c: tr(lang, f"col.{c}") for c in frame.columns if tr(lang, f"col.{c}") != f"col.{c}"})
