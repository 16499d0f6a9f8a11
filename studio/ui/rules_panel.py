"""The Persona tab's character rules: a table of the persona's rules (found in its answers until the user changes
one), each switched on or off, with the share of the persona's own answers that keep it."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio.data import persona_session as ps
from studio.data.rules import RULE_NAMES
from studio.locale import render, tr
from studio.ui.blank import blank
from studio.ui.common import headers

RULE_COLUMNS = ("rules.col.rule", "rules.col.on", "rules.col.value", "rules.col.kept")


def rules_frame(s: ps.EditSession | None, lg: str) -> pd.DataFrame:
    rows = ps.rules_rows(s) if s is not None and s.folder else []
    return pd.DataFrame([[tr(lg, f"rule.{r}"), on, value, kept] for r, on, value, kept in rows],
                        columns=headers(RULE_COLUMNS, lg))


def _on(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes", "✓")


def on_rules(df: pd.DataFrame | None, s: ps.EditSession | None, lg: str):
    """The table as edited: saved as the persona's own rules, or the rule that could not be read is said."""
    if s is None or df is None or not s.folder:
        return gr.skip(), gr.skip(), s
    keys = {tr(lang, f"rule.{k}"): k for k in RULE_NAMES for lang in ("en", "ja")}
    rows = [(keys.get(str(r[0]), str(r[0])), _on(r[1]), "" if r[2] is None else str(r[2]))
            for r in df.values.tolist()]
    s = ps.set_rules(s, rows)
    return rules_frame(s, lg), render(s.status, lg), s


def on_reset(s: ps.EditSession | None, lg: str):
    if s is None or not s.folder:
        return gr.skip(), gr.skip(), s
    s = ps.set_rules(s, None)
    return rules_frame(s, lg), render(s.status, lg), s


def build_rules_panel(i18n: gr.I18n, lang: gr.State, session: gr.State, status: gr.Textbox) -> gr.Dataframe:
    """The accordion; returns its table (refreshed by the tab after a persona is opened, created or imported)."""
    with gr.Accordion(i18n("persona.rules_table"), open=False):
        gr.Markdown(i18n("persona.rules_hint"))
        table = blank(gr.Dataframe(headers=list(RULE_COLUMNS), datatype=["str", "bool", "str", "str"],
                                   static_columns=[0, 3], interactive=True, wrap=True, row_count=len(RULE_NAMES),
                                   column_widths=["24%", "10%", "48%", "18%"]),
                      lambda lg: rules_frame(None, lg))
        reset = gr.Button(i18n("persona.rules_reset"), size="sm")
    saving = dict(concurrency_id="persona_save", concurrency_limit=1)
    table.input(on_rules, [table, session, lang], [table, status, session], api_name="edit_rules", **saving)
    reset.click(on_reset, [session, lang], [table, status, session], api_name="reset_rules", **saving)
    return table
