"""The Merge tab: fold a run's adapter into its base (verified), or combine several adapters into one. Both run as
background jobs (studio.jobs): progress shows here, survives a page refresh, and can be stopped."""
from __future__ import annotations

import gradio as gr

from studio.core.errors import StudioError
from studio.core.workspace import home, runs_dir
from studio.data.card_image import SUFFIXES
from studio.export.gguf_file import QUANTS
from studio.jobs.folders import Run, output_inside, resolve_run
from studio.jobs.params import CombineParams, ExportParams, MergeParams
from studio.jobs.runs import can_be_merged, runs_that
from studio.serve.chat_session import ChatRegistry
from studio.serve.merge import COMBINE_METHODS
from studio.ui import job_panel as jp
from studio.ui.i18n import UPLOAD

KINDS = ("merge", "combine", "export")


def adapter_runs() -> list[str]:
    return runs_that(can_be_merged, runs_dir())


def parse_weights(text: str | None, n: int) -> list[float]:
    """'0.5, 0.5' (or with 、) -> [0.5, 0.5]; empty -> equal weights."""
    try:
        ws = [float(x) for x in (text or "").replace("、", ",").split(",") if x.strip()]
    except ValueError:
        raise StudioError("merge.bad_weights") from None
    return ws or [1 / max(n, 1)] * n


def refresh():
    ids = adapter_runs()
    return gr.Dropdown(choices=ids, value=ids[0] if ids else None), gr.Dropdown(choices=ids)


def _out(target: str | None, run: Run) -> str:
    """An output folder the user typed, kept inside the run or the workspace ('' = the default under the run)."""
    text = (target or "").strip()
    return str(output_inside(text, [run.path, home(), runs_dir()])) if text else ""


def merge_params(ref, ckpt, target):
    if not ref:
        raise StudioError("merge.pick_run")
    run = resolve_run(ref, runs_dir(), inside=True)  # a run of this studio: never a folder elsewhere
    return MergeParams(str(run.path), _out(target, run), bool(ckpt)), run.id


def combine_params(ids, w, how, dens):
    ids = [str(resolve_run(i, runs_dir(), inside=True).path) for i in ids or []]
    return CombineParams(ids, parse_weights(w, len(ids)), how, float(dens or 0.5)), how


def export_params(ref, q, target):
    if not ref:
        raise StudioError("merge.pick_run")
    run = resolve_run(ref, runs_dir(), inside=True)  # named now, not by a failed job; never outside the runs
    return ExportParams(str(run.path), q, _out(target, run)), f"{run.id}-{q}"


def write_card_file(ref, image, lg):
    from studio.export.card import write_run_card
    from studio.locale import tr
    if not ref:
        return StudioError("merge.pick_run").render(lg), gr.File(visible=False)
    try:
        path = write_run_card(resolve_run(ref, runs_dir(), inside=True).id, runs_dir(), avatar=image or None)
    except StudioError as e:
        return e.render(lg), gr.File(visible=False)
    return tr(lg, "card.written", path=str(path)), gr.File(str(path), visible=True)


def on_card_image(path, lg):
    """The chosen picture as the card will show it, or why it cannot be used (checked before anything decodes it)."""
    from studio.data.card_image import preview
    try:
        return "", preview(path)
    except StudioError as e:
        return e.render(lg), None


def on_select(cur):
    ids = adapter_runs()
    return (*refresh(), gr.Dropdown(choices=ids, value=ids[0] if ids else None), jp.attach(KINDS)(cur))


def build_merge_tab(i18n: gr.I18n, lang: gr.State, chats: ChatRegistry) -> tuple:
    gr.Markdown(i18n("merge.why"))
    with gr.Row():
        run = gr.Dropdown(adapter_runs(), label=i18n("merge.adapter"), allow_custom_value=True, scale=3)
        use_ckpt = gr.Checkbox(False, label=i18n("merge.use_checkpoint"))
        out = gr.Textbox(label=i18n("merge.out"), placeholder="<run>/merged", scale=2)
        go = gr.Button(i18n("merge.go"), variant="primary")
    gr.Markdown(i18n("merge.combine_title"))
    with gr.Row():
        picks = gr.Dropdown(adapter_runs(), multiselect=True, allow_custom_value=True, scale=3,
                            label=i18n("merge.combine_runs"))
        weights = gr.Textbox(label=i18n("merge.weights"), placeholder="0.5, 0.5")
        method = gr.Dropdown([(i18n(f"merge.m.{m}"), m) for m in COMBINE_METHODS], value="linear",
                             label=i18n("merge.method"), scale=2, min_width=260)   # the names explain each method
        density = gr.Number(0.5, label=i18n("merge.density"), info=i18n("merge.density_hint"))
        combine = gr.Button(i18n("merge.combine_go"))
    gr.Markdown(i18n("export.title"))
    with gr.Row():
        export_run = gr.Dropdown(adapter_runs(), label=i18n("merge.adapter"), allow_custom_value=True, scale=3)
        quant = gr.Dropdown(list(QUANTS), value="q8_0", label=i18n("export.quant"), info=i18n("export.quant_hint"))
        export_out = gr.Textbox(label=i18n("merge.out"), placeholder="<run>/export", scale=2)
        export = gr.Button(i18n("export.go"), variant="primary")
        card = gr.Button(i18n("export.card_go"))
    with gr.Row():
        # a file box, not gr.Image: gradio's image widget decodes (every frame of) an upload before any check runs
        card_image = gr.File(label=i18n("export.card_image"), file_types=list(SUFFIXES), type="filepath", scale=1,
                             min_width=220, elem_classes=[UPLOAD])
        card_preview = gr.Image(label=i18n("export.card_preview"), height=200, scale=1, min_width=140,
                                interactive=False, show_label=True)
        with gr.Column(scale=3):
            gr.Markdown(i18n("export.card_image_hint"))
            card_file = gr.File(label=i18n("export.card_file"), visible=False)
    panel = jp.job_panel(i18n)

    export.click(jp.starter("export", chats, export_params), [export_run, quant, export_out, lang],
                 [panel.line, panel.job], api_name="export")
    card_image.change(on_card_image, [card_image, lang], [panel.line, card_preview], api_name="card_image")
    card.click(write_card_file, [export_run, card_image, lang], [panel.line, card_file], api_name="card")
    go.click(jp.starter("merge", chats, merge_params), [run, use_ckpt, out, lang], [panel.line, panel.job],
             api_name="merge")
    combine.click(jp.starter("combine", chats, combine_params), [picks, weights, method, density, lang],
                  [panel.line, panel.job], api_name="combine")
    panel.timer.tick(jp.show, [panel.job, lang], [panel.line, panel.bar], api_visibility="private",
                     show_progress="hidden")
    gr.Button(i18n("train.refresh"), size="sm").click(jp.show, [panel.job, lang], [panel.line, panel.bar],
                                                       api_name="merge_progress")
    panel.stop.click(jp.stop, [panel.job, lang], [panel.line], api_name="merge_stop")

    return on_select, [panel.job], [run, picks, export_run, panel.job]
