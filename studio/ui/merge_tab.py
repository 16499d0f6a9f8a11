"""The Merge tab: fold a run's adapter into its base (verified), or combine several adapters into one."""
from __future__ import annotations

import time

import gradio as gr

from studio.errors import StudioError
from studio.locale import tr
from studio.merge import COMBINE_METHODS, combine_adapters, merge_adapter
from studio.train.runs import list_runs, write_status
from studio.workspace import runs_dir


def adapter_runs() -> list[str]:
    return [r.id for r in list_runs(runs_dir())
            if (r.path / "adapter").exists() or (r.path / "checkpoints").exists()]


def build_merge_tab(i18n: gr.I18n, lang: gr.State) -> tuple:
    gr.Markdown(i18n("merge.why"))
    with gr.Row():
        run = gr.Dropdown(adapter_runs(), label=i18n("merge.adapter"), allow_custom_value=True, scale=3)
        use_ckpt = gr.Checkbox(False, label=i18n("merge.use_checkpoint"))
        out = gr.Textbox(label=i18n("merge.out"), placeholder="<run>/merged", scale=2)
        go = gr.Button(i18n("merge.go"), variant="primary")
    report = gr.Textbox(label=i18n("format.status"), interactive=False, lines=2)
    gr.Markdown(i18n("merge.combine_title"))
    with gr.Row():
        picks = gr.Dropdown(adapter_runs(), multiselect=True, allow_custom_value=True, scale=3,
                            label=i18n("merge.combine_runs"))
        weights = gr.Textbox(label=i18n("merge.weights"), placeholder="0.5, 0.5")
        method = gr.Dropdown(list(COMBINE_METHODS), value="linear", label=i18n("merge.method"))
        density = gr.Number(0.5, label="density", info=i18n("merge.density_hint"))
        combine = gr.Button(i18n("merge.combine_go"))

    def refresh():
        ids = adapter_runs()
        return gr.Dropdown(choices=ids, value=ids[0] if ids else None), gr.Dropdown(choices=ids)

    def on_merge(ref, ckpt, target, lg):
        if not ref:
            return tr(lg, "merge.pick_run")
        try:
            return merge_adapter(ref, target.strip() or None, runs_dir(), use_checkpoint=bool(ckpt)).summary(lg)
        except StudioError as e:
            return e.render(lg)

    def on_combine(ids, w, how, dens, lg):
        try:
            n = len(ids or [])
            ws = [float(x) for x in (w or "").replace("、", ",").split(",") if x.strip()] or [1 / max(n, 1)] * n
        except ValueError:
            return tr(lg, "merge.bad_weights")
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-combined-{how}"
        try:
            target = runs_dir() / name
            combine_adapters(list(ids or []), ws, how, target / "adapter", runs_dir(), float(dens or 0.5))
        except StudioError as e:
            return e.render(lg)
        write_status(target, state="finished", step=0, total=0, combined_from=list(ids), weights=ws, method=how)
        return tr(lg, "merge.combined", n=len(ids), how=how, weights=ws, run=name)

    go.click(on_merge, [run, use_ckpt, out, lang], [report], api_name="merge")
    combine.click(on_combine, [picks, weights, method, density, lang], [report], api_name="combine")
    return refresh, [run, picks]
