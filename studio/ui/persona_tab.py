"""The Persona tab: character fields, the Q&A table (edit, add, duplicate, delete, search, sort), import/export,
validation and statistics. Every edit is saved at once through studio.persona_session."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.core.errors import StudioError
from studio.data import persona_session as ps
from studio.data.exporters import export_pairs
from studio.data.library import list_personas, persona_path
from studio.data.stats import length_histogram, persona_stats
from studio.data.table_view import (
    SORTS,
    VIEW_COLUMNS,
    apply_view,
    delete_row,
    delete_rows,
    duplicate_row,
    insert_row,
    parse_rows,
    view_rows,
)
from studio.locale import Rows, T, render, tr
from studio.ui.blank import axis_titles, blank
from studio.ui.common import FINDING_KEYS, FINDING_WIDTHS, findings_frame, headers, localized_columns
from studio.ui.i18n import UPLOAD
from studio.ui.rules_panel import build_rules_panel, rules_frame


@dataclass
class PersonaTab:
    session: gr.State   # EditSession, read by later tabs (Format, Train)
    picker: gr.Dropdown
    table: gr.Dataframe
    query: gr.Textbox   # the table's search and sort: rows changed elsewhere are shown as the reader has them
    sort: gr.Dropdown
    derived: list       # status, findings, statistics, chart: what rows_view fills after the table
    on_load: object     # fills the persona list when a page opens (the remembered persona first)
    open_outputs: list  # what on_open fills
    on_open: object
    open_inputs: list
    rules_table: gr.Dataframe   # the character rules, refilled from the session after a persona opens


def persona_table(s: ps.EditSession, query: str = "", sort: str = "row", lang: str = "en") -> pd.DataFrame:
    """The table as shown: headers in the user's language (edits are read back by position, not by name)."""
    frame = pd.DataFrame(view_rows(s.persona.pairs, query or "", sort or "row"), columns=VIEW_COLUMNS)
    return localized_columns(frame, lang)


def _derived(s: ps.EditSession, lang: str) -> list:
    st = persona_stats(s.persona)
    share = tr(lang, "stats.no_markers") if st.marker_share is None else f"{st.marker_share:.0%}"
    stats = tr(lang, "stats.summary", rows=st.rows, dialogs=st.dialogs, median=f"{st.median_answer_chars:g}",
               share=share)
    hist = pd.DataFrame(length_histogram(st.lengths), columns=["length", "replies"])
    # the bins' labels sort as their numbers (studio.data.stats); an update that passed sort= was drawn one update
    # late (a template switch in the Format tab showed the previous render's bins)
    hist = gr.BarPlot(value=hist)
    # the list shows a few findings at a time: the statistics line says how many there are, and that it scrolls
    if len(s.findings) > 2:
        stats += " " + tr(lang, "findings.count", n=len(s.findings))
    return [render(s.status, lang), findings_frame(s.findings, lang), stats, hist]


# The handlers below return updates by position: the 7 character fields, the table, the 4 derived outputs (status,
# findings, stats, histogram), the session and the probe questions ("everything" in build_persona_tab).
N_FIELDS = 7
# one width per column of VIEW_COLUMNS (#, question, answer, context, dialog_id, drafted by): a column left out was
# squeezed to 32 px, its header wrapped letter by letter into a 200 px header row
TABLE_WIDTHS = ["6%", "28%", "34%", "10%", "11%", "11%"]
N_EVERYTHING = N_FIELDS + 1 + 4 + 2


def _fields(s: ps.EditSession) -> list:
    p = s.persona
    return [p.name, p.system_prompt, p.notes, p.notes_in_prompt, p.style.target_chars, p.style.rules,
            ps.field_text(p, "markers")]


def rows_view(s: ps.EditSession, q: str, srt: str, lg: str) -> list:
    """The table under the reader's search and sort, then its status, findings, statistics and chart: for rows
    changed outside this tab (an auto-fix, accepted drafts)."""
    return [persona_table(s, q, srt, lg), *_derived(s, lg)]


def show(s: ps.EditSession, q: str, srt: str, lg: str) -> list:
    return [*_fields(s), *rows_view(s, q, srt, lg), s, ps.read_probe(s)]


def said(message, lg: str) -> list:
    """Only the status box changes: every field and the table keep what the user sees."""
    return [*[gr.skip()] * N_FIELDS, gr.skip(), render(message, lg), *[gr.skip()] * 3, gr.skip(), gr.skip()]


def on_open(choice: str, q: str, srt: str, lg: str):
    if not choice:
        return [gr.skip()] * N_EVERYTHING
    try:
        return show(ps.open_session(persona_path(choice)), q, srt, lg)
    except StudioError as e:
        return said(T("persona.open_failed", name=choice, reason=e), lg)


def on_load(memory: dict | None):
    """The persona this browser opened last, else the first one."""
    names = list_personas()
    last = (memory or {}).get("persona")
    return gr.Dropdown(choices=names, value=last if last in names else names[0] if names else None)


def on_create(new: str, q: str, srt: str, lg: str):
    """Create and open a persona; the name box empties (kept when refused, to be corrected)."""
    try:
        s = ps.create_session(persona_path(new))
    except StudioError as e:
        return [gr.skip(), *said(e, lg), gr.skip()]
    return [gr.Dropdown(choices=list_personas(), value=Path(s.folder).name), *show(s, q, srt, lg), ""]


def on_edit(df: pd.DataFrame, s: ps.EditSession | None, lg: str):
    if s is None:
        return [gr.skip()] * 5
    s.persona.pairs = apply_view(s.persona.pairs, df.values.tolist() if df is not None else [])
    return [*_derived(ps.save(s), lg), s]


def on_fields(s: ps.EditSession | None, *values):
    *values, lg = values
    if s is None:
        return [gr.skip()] * 5
    return [*_derived(ps.update_fields(s, *values), lg), s]


def on_typing(field: str):
    """Saves as text is typed (the latest change wins), so it is on disk before the field is left."""
    def typed(s: ps.EditSession | None, value: str | None, lg: str):
        if s is None:
            return [gr.skip()] * 5
        s = ps.set_text_field(s, field, value)  # saves nothing when a persona was just opened or reloaded
        return [*_derived(s, lg), s]
    return typed


def on_probes(s: ps.EditSession | None, text: str | None, lg: str):
    if s is None or text is None or text == ps.read_probe(s):
        return gr.skip()
    return render(ps.save_probe(s, text), lg)


def on_select(evt: gr.SelectData, df: pd.DataFrame):
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return int(df.iloc[row, 0])
    except (ValueError, IndexError, TypeError):
        return None


def row_op(op: str):
    def run(s: ps.EditSession | None, sel: float | None, q: str, srt: str, lg: str):
        if s is None:
            return [gr.skip()] * 7
        row = int(sel) if sel else None
        pairs = s.persona.pairs
        if op != "add" and (row is None or not 1 <= row <= len(pairs)):
            s.status = T("table.select_first")
            return [gr.skip(), *_derived(s, lg), s, gr.skip()]
        if op == "add":
            s.persona.pairs, row = insert_row(pairs, row)
            done = T("table.added", row=row) if row < len(s.persona.pairs) else T("table.added_end", row=row)
        elif op == "dup":
            s.persona.pairs, row = duplicate_row(pairs, row), row + 1
            done = T("table.duplicated", src=row - 1, row=row)
        else:
            s.persona.pairs, done, row = delete_row(pairs, row), T("table.deleted", row=row), None
        s = ps.save(s)
        if s.saved:  # say what happened and where, then that it saved
            s.status = T("table.row_done", what=done, saved=s.status)
        return [persona_table(s, q, srt, lg), *_derived(s, lg), s, row]
    return run


def on_delete_rows(s: ps.EditSession | None, text: str, q: str, srt: str, lg: str):
    """Delete several rows at once by their numbers ('3-7, 12'): one save, one message."""
    if s is None:
        return [gr.skip()] * 7
    rows = parse_rows(text, len(s.persona.pairs))
    if rows is None:
        s.status = T("table.rows_bad", text=(text or "")[:80], n=len(s.persona.pairs))
        return [gr.skip(), *_derived(s, lg), s, gr.skip()]
    s.persona.pairs = delete_rows(s.persona.pairs, rows)
    s = ps.save(s)
    if s.saved:
        s.status = T("table.row_done", what=T("table.rows_deleted", n=len(rows), rows=Rows(rows)), saved=s.status)
    return [persona_table(s, q, srt, lg), *_derived(s, lg), s, None]


def on_import(file: str | None, m: str, s: ps.EditSession | None, q: str, srt: str, lg: str):
    if s is None or not file:
        return said(T("io.choose_file"), lg)
    return show(ps.import_into(s, file, m), q, srt, lg)


def on_export(suffix: str):
    def run(s: ps.EditSession | None):
        if s is None:
            return None
        out = Path(tempfile.mkdtemp(prefix="persona-export-")) / f"{Path(s.folder).name}{suffix}"
        return str(export_pairs(s.persona, out))
    return run


def on_reload(s: ps.EditSession | None, q: str, srt: str, lg: str):
    return on_open(Path(s.folder).name if s else "", q, srt, lg)


def on_overwrite(s: ps.EditSession | None, lg: str):
    if s is None:
        return [gr.skip()] * 5
    return [*_derived(ps.save(s, force=True), lg), s]


def on_view(s: ps.EditSession | None, q: str, srt: str, lg: str):
    return persona_table(s, q, srt, lg) if s else gr.skip()


def on_showing(s: ps.EditSession | None, df: pd.DataFrame | None, q: str, lg: str):
    if s is None:
        return ""
    shown = 0 if df is None else len(df)
    total = len(s.persona.pairs)
    return tr(lg, "table.showing", shown=shown, total=total) if (q or "").strip() else \
        tr(lg, "table.total", total=total)


def on_conflict(s: ps.EditSession | None):
    conflict = s is not None and s.in_conflict
    return gr.Button(visible=conflict)


def build_persona_tab(i18n: gr.I18n, lang: gr.State) -> PersonaTab:
    session = gr.State(None)
    with gr.Row():
        picker = gr.Dropdown(choices=list_personas(), label=i18n("persona.pick"), scale=3, allow_custom_value=True)
        new_name = gr.Textbox(label=i18n("persona.new_name"), scale=2)
        create = gr.Button(i18n("persona.create"), scale=1)
        reload_btn = gr.Button(i18n("persona.reload"), scale=1)
        overwrite = gr.Button(i18n("persona.overwrite"), scale=1, variant="stop", visible=False)  # on a conflict
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Accordion(i18n("persona.settings"), open=True):
                with gr.Row():
                    name = gr.Textbox(label=i18n("persona.name"), scale=2)
                    target = gr.Number(label=i18n("persona.target"), precision=0, minimum=0, scale=1)
                system = gr.Textbox(label=i18n("persona.system"), lines=3)
                notes = gr.Textbox(label=i18n("persona.notes"), lines=3)
                notes_in = gr.Checkbox(label=i18n("persona.notes_in_prompt"))
                markers = gr.Textbox(label=i18n("persona.markers"))
                rules = gr.Textbox(label=i18n("persona.rules"), lines=2)
                probes = gr.Textbox(label=i18n("persona.probe"), info=i18n("persona.probe_hint"), lines=4,
                                    max_lines=12)
            with gr.Row():
                query = gr.Textbox("", label=i18n("table.search"), scale=3)
                sort = gr.Dropdown(choices=[(i18n(f"sort.{k}"), k) for k in SORTS], value="row",
                                   label=i18n("table.sort"), scale=1)
                selected = gr.Number(label=i18n("table.selected"), precision=0, interactive=False, scale=1)
            showing = gr.Markdown()
            table = blank(gr.Dataframe(headers=VIEW_COLUMNS, datatype=["number", "str", "str", "str", "str", "str"],
                                       static_columns=[0], interactive=True, wrap=True, max_height=600,
                                       label=i18n("table.rows"), column_widths=TABLE_WIDTHS),
                          lambda lg: localized_columns(pd.DataFrame(columns=VIEW_COLUMNS), lg))
            with gr.Row():
                add = gr.Button(i18n("table.add"))
                dup = gr.Button(i18n("table.duplicate"))
                delete = gr.Button(i18n("table.delete"))
                many = gr.Textbox(label=i18n("table.rows_pick"), placeholder="3-7, 12", scale=2)
                delete_many = gr.Button(i18n("table.delete_rows"), variant="stop")
            with gr.Row():
                upload = gr.File(label=i18n("io.file"), scale=1, min_width=200, elem_classes=[UPLOAD])
                with gr.Column():
                    mode = gr.Radio([(i18n("io.append"), "append"), (i18n("io.replace"), "replace")],
                                    value="append", label=i18n("io.mode"))
                    do_import = gr.Button(i18n("io.import"), variant="primary")
                    import_note = gr.Markdown()   # what the import did, where the user pressed it
                    exp_csv = gr.Button(i18n("io.export_csv"))
                    exp_jsonl = gr.Button(i18n("io.export_jsonl"))
                download = gr.File(label=i18n("io.download"), interactive=False)
            gr.Markdown(i18n("io.kinds"))
        with gr.Column(scale=2):
            status = gr.Textbox(label=i18n("persona.status"), interactive=False, lines=2)
            stats = gr.Textbox(label=i18n("stats"), interactive=False)
            findings = blank(gr.Dataframe(headers=headers(FINDING_KEYS, "en"), interactive=False, wrap=True,
                                          label=i18n("findings"), max_height=400, column_widths=FINDING_WIDTHS),
                             lambda lg: findings_frame([], lg))
            hist = blank(gr.BarPlot(x="length", y="replies", label=i18n("hist"), sort=None, y_lim=[0, None]),
                         axis_titles(gr.BarPlot, "axis.length", "axis.replies"))
            rules_table = build_rules_panel(i18n, lang, session, status)

    fields = [name, system, notes, notes_in, target, rules, markers]
    derived = [status, findings, stats, hist]
    everything = [*fields, table, *derived, session, probes]
    assert len(fields) == N_FIELDS and len(everything) == N_EVERYTHING

    def refresh_rules(event):   # the rules follow the persona that was opened, created, imported or reloaded
        event.then(rules_frame, [session, lang], [rules_table], api_visibility="private", show_progress="hidden")
    refresh_rules(picker.input(on_open, [picker, query, sort, lang], everything, api_name="open_persona"))
    refresh_rules(create.click(on_create, [new_name, query, sort, lang], [picker, *everything, new_name],
                               api_name="create_persona"))
    # one save at a time, in the order the browser sent them: two edits of one session never race (a save that
    # overtook another would be refused as a conflict with itself)
    saving = dict(concurrency_id="persona_save", concurrency_limit=1)
    table.input(on_edit, [table, session, lang], [*derived, session], api_name="edit_table", **saving)
    for widget, field in zip((name, system, notes, rules, markers), ps.TEXT_FIELDS):
        # .change, not .input: gradio's Textbox sends input only from key presses, which IME (Japanese) input skips;
        # one field per event, as the other widgets may not be filled yet when the page loads
        widget.change(on_typing(field), [session, widget, lang], [*derived, session], trigger_mode="always_last",
                      show_progress="hidden", api_visibility="private", **saving)
        widget.blur(on_fields, [session, *fields, lang], [*derived, session], api_visibility="private", **saving)
    for widget in (notes_in, target):
        widget.input(on_fields, [session, *fields, lang], [*derived, session], api_visibility="private", **saving)
    name.submit(on_fields, [session, *fields, lang], [*derived, session], api_name="edit_fields", **saving)
    probes.change(on_probes, [session, probes, lang], [status], trigger_mode="always_last", show_progress="hidden",
                  api_name="edit_probes", **saving)
    table.select(on_select, [table], [selected], api_visibility="private")
    for btn, op in ((add, "add"), (dup, "dup"), (delete, "delete")):
        btn.click(row_op(op), [session, selected, query, sort, lang], [table, *derived, session, selected],
                  api_name=f"row_{op}", **saving)
    delete_many.click(on_delete_rows, [session, many, query, sort, lang], [table, *derived, session, selected],
                      api_name="rows_delete", **saving)
    # .change (IME commits included) and always_last: the table always ends on the box's final text, cleared too
    gr.on([query.change, sort.change], on_view, [session, query, sort, lang], [table], api_name="filter_view",
          trigger_mode="always_last", show_progress="hidden")
    table.change(on_showing, [session, table, query, lang], [showing], api_visibility="private",
                 show_progress="hidden")
    status.change(on_conflict, [session], [overwrite], api_visibility="private", show_progress="hidden")
    imported = do_import.click(on_import, [upload, mode, session, query, sort, lang], everything,
                               api_name="import_file", **saving)
    refresh_rules(imported)
    imported.then(lambda s, lg: render(s.status, lg) if s is not None else "", [session, lang],
                 [import_note], api_visibility="private")
    exp_csv.click(on_export(".csv"), [session], [download], api_name="export_csv")
    exp_jsonl.click(on_export(".jsonl"), [session], [download], api_name="export_jsonl")
    refresh_rules(reload_btn.click(on_reload, [session, query, sort, lang], everything, api_name="reload", **saving))
    overwrite.click(on_overwrite, [session, lang], [*derived, session], api_name="overwrite", **saving)
    return PersonaTab(session=session, picker=picker, table=table, query=query, sort=sort, derived=derived,
                      on_load=on_load, open_outputs=everything, on_open=on_open,
                      open_inputs=[picker, query, sort, lang], rules_table=rules_table)
