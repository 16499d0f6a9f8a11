"""The Persona tab: character fields, the Q&A table (edit, add, duplicate, delete, search, sort), import/export,
validation and statistics. Every edit is saved at once through studio.persona_session."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from studio import persona_session as ps
from studio.errors import StudioError
from studio.exporters import export_pairs
from studio.stats import length_histogram, persona_stats
from studio.table_view import SORTS, VIEW_COLUMNS, apply_view, delete_row, duplicate_row, insert_row, view_rows
from studio.workspace import list_personas, persona_path

FINDING_COLUMNS = ["severity", "code", "rows", "message", "fix"]


@dataclass
class PersonaTab:
    session: gr.State   # EditSession, read by later tabs (Format, Train)
    picker: gr.Dropdown
    table: gr.Dataframe
    on_load: object     # fills the persona list when a page opens
    open_outputs: list  # what on_open fills
    on_open: object
    open_inputs: list


def persona_table(s: ps.EditSession, query: str = "", sort: str = "row") -> pd.DataFrame:
    return pd.DataFrame(view_rows(s.persona.pairs, query or "", sort or "row"), columns=VIEW_COLUMNS)


def _derived(s: ps.EditSession) -> list:
    findings = [[f.severity, f.code, ", ".join(map(str, f.rows[:30])), f.message, f.fix] for f in s.findings]
    st = persona_stats(s.persona)
    share = "n/a (no markers set)" if st.marker_share is None else f"{st.marker_share:.0%}"
    stats = (f"rows: {st.rows} · dialogs: {st.dialogs} · median reply: {st.median_answer_chars:g} chars · "
             f"replies with style markers: {share}")
    hist = pd.DataFrame(length_histogram(st.lengths), columns=["length", "replies"])
    return [s.status, pd.DataFrame(findings, columns=FINDING_COLUMNS), stats, hist]


def _fields(s: ps.EditSession) -> list:
    p = s.persona
    return [p.name, p.system_prompt, p.notes, p.notes_in_prompt, p.style.target_chars, p.style.rules,
            ps.field_text(p, "markers")]


def build_persona_tab(i18n: gr.I18n) -> PersonaTab:
    session = gr.State(None)
    with gr.Row():
        picker = gr.Dropdown(choices=list_personas(), label=i18n("persona.pick"), scale=3, allow_custom_value=True)
        new_name = gr.Textbox(label=i18n("persona.new_name"), scale=2)
        create = gr.Button(i18n("persona.create"), scale=1)
        reload_btn = gr.Button(i18n("persona.reload"), scale=1)
        overwrite = gr.Button(i18n("persona.overwrite"), scale=1, variant="stop")
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Accordion(i18n("persona.name"), open=False):
                name = gr.Textbox(label=i18n("persona.name"))
                system = gr.Textbox(label=i18n("persona.system"), lines=3)
                notes = gr.Textbox(label=i18n("persona.notes"), lines=3)
                notes_in = gr.Checkbox(label=i18n("persona.notes_in_prompt"))
                with gr.Row():
                    target = gr.Number(label=i18n("persona.target"), precision=0, minimum=0)
                    markers = gr.Textbox(label=i18n("persona.markers"), scale=3)
                rules = gr.Textbox(label=i18n("persona.rules"), lines=2)
            with gr.Row():
                query = gr.Textbox(label=i18n("table.search"), scale=3)
                sort = gr.Dropdown(choices=list(SORTS), value="row", label=i18n("table.sort"), scale=1)
                selected = gr.Number(label=i18n("table.selected"), precision=0, interactive=False, scale=1)
            table = gr.Dataframe(headers=VIEW_COLUMNS, datatype=["number", "str", "str", "str", "str"],
                                 static_columns=[0], interactive=True, wrap=True, max_height=600,
                                 label=i18n("table.rows"), column_widths=["6%", "32%", "38%", "14%", "10%"])
            with gr.Row():
                add = gr.Button(i18n("table.add"))
                dup = gr.Button(i18n("table.duplicate"))
                delete = gr.Button(i18n("table.delete"))
            with gr.Row():
                upload = gr.File(label=i18n("io.file"), file_types=[".csv", ".tsv", ".jsonl", ".json", ".png"])
                with gr.Column():
                    mode = gr.Radio(["append", "replace"], value="append", label=i18n("io.mode"))
                    do_import = gr.Button(i18n("io.import"), variant="primary")
                    exp_csv = gr.Button(i18n("io.export_csv"))
                    exp_jsonl = gr.Button(i18n("io.export_jsonl"))
                download = gr.File(label=i18n("io.download"), interactive=False)
        with gr.Column(scale=2):
            status = gr.Textbox(label=i18n("persona.status"), interactive=False, lines=2)
            stats = gr.Textbox(label=i18n("stats"), interactive=False)
            findings = gr.Dataframe(headers=FINDING_COLUMNS, interactive=False, wrap=True,
                                    label=i18n("findings"), max_height=400)
            hist = gr.BarPlot(x="length", y="replies", label=i18n("hist"), sort=None, y_lim=[0, None])

    fields = [name, system, notes, notes_in, target, rules, markers]
    derived = [status, findings, stats, hist]
    everything = [*fields, table, *derived, session]

    def show(s: ps.EditSession, q: str = "", srt: str = "row") -> list:
        return [*_fields(s), persona_table(s, q, srt), *_derived(s), s]

    def on_open(choice: str, q: str, srt: str):
        if not choice:
            return [gr.skip()] * len(everything)
        try:
            return show(ps.open_session(persona_path(choice)), q, srt)
        except StudioError as e:
            return [*[gr.skip()] * (len(everything) - 5), f"Could not open {choice}: {e}", *[gr.skip()] * 4]

    def on_load():
        names = list_personas()
        return gr.Dropdown(choices=names, value=names[0] if names else None)

    def on_create(new: str, q: str, srt: str):
        try:
            s = ps.create_session(persona_path(new))
        except StudioError as e:
            return [gr.skip(), *[gr.skip()] * (len(everything) - 5), str(e), *[gr.skip()] * 4]
        return [gr.Dropdown(choices=list_personas(), value=Path(s.folder).name), *show(s, q, srt)]

    def on_edit(df: pd.DataFrame, s: ps.EditSession | None):
        if s is None:
            return [gr.skip()] * 5
        s.persona.pairs = apply_view(s.persona.pairs, df.values.tolist() if df is not None else [])
        return [*_derived(ps.save(s)), s]

    def on_fields(s: ps.EditSession | None, *values):
        if s is None:
            return [gr.skip()] * 5
        return [*_derived(ps.update_fields(s, *values)), s]

    def on_typing(field: str):
        """Saves as text is typed (the latest change wins), so it is on disk before the field is left."""
        def typed(s: ps.EditSession | None, value: str | None):
            if s is None:
                return gr.skip(), gr.skip()
            s = ps.set_text_field(s, field, value)  # saves nothing when a persona was just opened or reloaded
            return s.status, s
        return typed

    def on_select(evt: gr.SelectData, df: pd.DataFrame):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        try:
            return int(df.iloc[row, 0])
        except (ValueError, IndexError, TypeError):
            return None

    def row_op(op: str):
        def run(s: ps.EditSession | None, sel: float | None, q: str, srt: str):
            if s is None:
                return [gr.skip()] * 7
            row = int(sel) if sel else None
            pairs = s.persona.pairs
            if op != "add" and (row is None or not 1 <= row <= len(pairs)):
                s.status = "Select a row in the table first (click any cell of it)."
                return [gr.skip(), *_derived(s), s, gr.skip()]
            if op == "add":
                s.persona.pairs, row = insert_row(pairs, row)
            elif op == "dup":
                s.persona.pairs, row = duplicate_row(pairs, row), row + 1
            else:
                s.persona.pairs, row = delete_row(pairs, row), None
            return [persona_table(s, q, srt), *_derived(ps.save(s)), s, row]
        return run

    def on_import(file: str | None, m: str, s: ps.EditSession | None, q: str, srt: str):
        if s is None or not file:
            return [gr.skip()] * (len(everything) - 5) + ["Choose a file to import first.", *[gr.skip()] * 4]
        return show(ps.import_into(s, file, m), q, srt)

    def on_export(suffix: str):
        def run(s: ps.EditSession | None):
            if s is None:
                return None
            out = Path(tempfile.mkdtemp(prefix="persona-export-")) / f"{Path(s.folder).name}{suffix}"
            return str(export_pairs(s.persona, out))
        return run

    def on_reload(s: ps.EditSession | None, q: str, srt: str):
        return on_open(Path(s.folder).name if s else "", q, srt)

    def on_overwrite(s: ps.EditSession | None):
        if s is None:
            return [gr.skip()] * 5
        return [*_derived(ps.save(s, force=True)), s]

    def on_view(s: ps.EditSession | None, q: str, srt: str):
        return persona_table(s, q, srt) if s else gr.skip()

    picker.input(on_open, [picker, query, sort], everything, api_name="open_persona")
    create.click(on_create, [new_name, query, sort], [picker, *everything], api_name="create_persona")
    saving = dict(concurrency_id="persona_save")  # one save at a time, so a session never races itself
    table.input(on_edit, [table, session], [*derived, session], api_name="edit_table", **saving)
    for widget, field in zip((name, system, notes, rules, markers), ps.TEXT_FIELDS):
        # .change, not .input: gradio's Textbox sends input only from key presses, which IME (Japanese) input skips;
        # one field per event, as the other widgets may not be filled yet when the page loads
        widget.change(on_typing(field), [session, widget], [status, session], trigger_mode="always_last",
                      show_progress="hidden", api_visibility="private", **saving)
        widget.blur(on_fields, [session, *fields], [*derived, session], api_visibility="private", **saving)
    for widget in (notes_in, target):
        widget.input(on_fields, [session, *fields], [*derived, session], api_visibility="private", **saving)
    name.submit(on_fields, [session, *fields], [*derived, session], api_name="edit_fields", **saving)
    table.select(on_select, [table], [selected], api_visibility="private")
    for btn, op in ((add, "add"), (dup, "dup"), (delete, "delete")):
        btn.click(row_op(op), [session, selected, query, sort], [table, *derived, session, selected],
                  api_name=f"row_{op}", **saving)
    gr.on([query.input, sort.change], on_view, [session, query, sort], [table], api_name="filter_view")
    do_import.click(on_import, [upload, mode, session, query, sort], everything, api_name="import_file", **saving)
    exp_csv.click(on_export(".csv"), [session], [download], api_name="export_csv")
    exp_jsonl.click(on_export(".jsonl"), [session], [download], api_name="export_jsonl")
    reload_btn.click(on_reload, [session, query, sort], everything, api_name="reload", **saving)
    overwrite.click(on_overwrite, [session], [*derived, session], api_name="overwrite", **saving)
    return PersonaTab(session=session, picker=picker, table=table, on_load=on_load, open_outputs=everything,
                      on_open=on_open, open_inputs=[picker, query, sort])
