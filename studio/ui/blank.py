"""Tables and charts as they look before their first fill, in the reader's language. gradio fixes a table's headers
and a chart's axis titles when the page is built (one language for every reader), so a builder marks each one with
what it shows empty, and the page's load and the language switch relabel them: an empty table gets its localized
headers, a chart its axis titles (its data is left alone); a table that holds data is not touched."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

ATTR = "studio_blank"


def blank(component, empty: Callable[[str], Any]):
    """Mark `component` with empty(lang): the update that shows it, empty, in that language. Returns it."""
    setattr(component, ATTR, empty)
    return component


def axis_titles(plot_cls, x: str, y: str, color: str | None = None) -> Callable[[str], Any]:
    """empty(lang) for a chart: only its axis (and legend) titles, from locale keys."""
    from studio.locale import tr

    def empty(lang: str):
        kw = {"x_title": tr(lang, x), "y_title": tr(lang, y)}
        if color:
            kw["color_title"] = tr(lang, color)
        return plot_cls(**kw)
    return empty


def is_empty(value) -> bool:
    """No rows, or only the one row of blanks a browser sends for an empty table."""
    if value is None:
        return True
    if isinstance(value, pd.DataFrame):
        return value.empty or bool((value.astype(str).map(str.strip) == "").all(axis=None))
    return False


def marked(demo: gr.Blocks) -> tuple[list, list]:
    """(tables, charts) marked with blank() anywhere in the app, in a stable order."""
    tables, charts = [], []
    for _, block in sorted(demo.blocks.items()):
        if hasattr(block, ATTR):
            (tables if isinstance(block, gr.Dataframe) else charts).append(block)
    return tables, charts


def relabel(tables: list, charts: list) -> Callable:
    """The handler: (lang, *table values) -> an update per table (empty ones only), then one per chart."""
    def go(lang: str, *values):
        out = [getattr(t, ATTR)(lang) if is_empty(v) else gr.skip() for t, v in zip(tables, values)]
        return out + [getattr(c, ATTR)(lang) for c in charts]
    return go
