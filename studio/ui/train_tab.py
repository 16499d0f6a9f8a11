"""The Train tab: model and settings, memory estimate, start/stop/resume, live progress, loss plot, log tail and
run history. Training runs in a child process (studio.train.launch); this tab only reads its files."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.jobs.status import ACTIVE
from studio.data import persona_session as ps
from studio.serve.chat_session import ChatRegistry
from studio.errors import StudioError
from studio.locale import T, render, tr
from studio.models import PRESETS, resolve
from studio.train import launch
from studio.train.config import DEFAULT_TARGETS, OPTIMIZERS, SCHEDULERS, STRATEGIES, TrainConfig
from studio.train.distributed import visible_gpus
from studio.train.memory import approx_lengths, available_memory, estimate
from studio.train.recipes import recipe
from studio.train.runs import damaged_checkpoints, find_run, latest_checkpoint, list_runs, request_stop
from studio.train.views import HISTORY_COLUMNS, history_frame, log_html, loss_frame, persona_line, plot_update, \
    progress_html, progress_text
from studio.ui.common import template_choices
from studio.ui.persona_tab import PersonaTab
from studio.workspace import runs_dir


@dataclass
class TrainTab:
    notice: Callable            # page load: offer to prepare the default model
    message: gr.Textbox
    attach: Callable            # page load: which run this browser tab follows
    current: gr.State
    tick: Callable
    tick_outputs: list
    memory: gr.Textbox
    on_estimate: Callable
    widgets: list
    show_settings: Callable     # page load: the attached run's own settings, else this device's recipe
    settings_outputs: list


def build_train_tab(i18n: gr.I18n, persona: PersonaTab, chats: ChatRegistry, lang: gr.State) -> TrainTab:
    D = TrainConfig()  # widget defaults; the page's load event then applies this device's recipe
    current = gr.State(None)  # this browser tab's run directory (str)
    applied_model = gr.State("default")  # the model whose recipe the fields hold (typing alone changes nothing)
    plotted = gr.State([])  # the loss series the plot was drawn with (see plot_update)
    persona_info = gr.Markdown()  # which persona Start trains, and which one the shown run trained
    with gr.Row():
        model = gr.Dropdown(["default", *PRESETS], value="default", allow_custom_value=True, scale=3,
                            label=i18n("train.model"))
        template = gr.Radio(template_choices(i18n), value="model", label=i18n("format.template"), scale=2)
        prepare = gr.Button(i18n("train.prepare"), scale=1)
    with gr.Row():
        max_steps = gr.Number(D.max_steps, precision=0, minimum=0, label="max_steps")
        lr = gr.Number(D.learning_rate, label="learning_rate")
        rank = gr.Number(D.lora_r, precision=0, label="lora_r")
        batch = gr.Number(D.batch_size, precision=0, label="batch_size")
        max_len = gr.Number(D.max_length, precision=0, label="max_length")
        four_bit = gr.Checkbox(D.load_in_4bit, label=i18n("train.4bit"))
    with gr.Row():
        replay = gr.Slider(0, 0.8, value=D.replay_share, step=0.05, label=i18n("train.replay_share"),
                           info=i18n("train.replay_hint"), scale=3)
        replay_sys = gr.Radio([(i18n("train.replay_sys_none"), "none"), (i18n("train.replay_sys_persona"), "persona")],
                              value=D.replay_system, label=i18n("train.replay_system"), scale=2)
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
            pad_free = gr.Checkbox(D.padding_free, label="padding_free")
            liger = gr.Checkbox(D.use_liger, label="use_liger", info=i18n("train.liger_hint"))
            double_q = gr.Checkbox(D.double_quant, label="double_quant")
        with gr.Row():
            packing = gr.Checkbox(D.packing, label=i18n("train.packing"), info=i18n("train.packing_hint"))
        with gr.Row():
            accum = gr.Number(D.grad_accum, precision=0, label="grad_accum")
            epochs = gr.Number(D.epochs, label="epochs", info=i18n("train.epochs_hint"))
            warmup = gr.Number(D.warmup_steps, label="warmup_steps")
            sched = gr.Dropdown(list(SCHEDULERS), value=D.scheduler, label="scheduler")
            wd = gr.Number(D.weight_decay, label="weight_decay")
        with gr.Row():
            optim = gr.Dropdown(list(OPTIMIZERS), value=D.optimizer, label="optimizer")
            seed = gr.Number(D.seed, precision=0, label="seed")
            neftune = gr.Number(0, label="neftune_alpha", info=i18n("train.neftune_hint"))
            eval_frac = gr.Number(D.eval_fraction, label="eval_fraction")
            save_steps = gr.Number(D.save_steps, precision=0, label="save_steps")
        with gr.Row():
            add_tokens = gr.Checkbox(False, label=i18n("train.add_tokens"))
            override = gr.Checkbox(False, label=i18n("train.override"))
            remote = gr.Checkbox(False, label=i18n("format.remote_code"))
    gpus = visible_gpus()
    with gr.Accordion(i18n("train.scale"), open=gpus > 1):
        gr.Markdown(i18n("train.scale_note"))
        with gr.Row():
            procs = gr.Number(D.num_processes, precision=0, minimum=1, label=i18n("train.num_processes"))
            strategy = gr.Dropdown(list(STRATEGIES), value=D.strategy, label=i18n("train.strategy"))
            machines = gr.Number(D.num_machines, precision=0, minimum=1, label=i18n("train.num_machines"))
            machine_rank = gr.Number(D.machine_rank, precision=0, minimum=0, label=i18n("train.machine_rank"))
            address = gr.Textbox(D.main_address, label=i18n("train.main_address"))
            port = gr.Number(D.main_port, precision=0, minimum=0, label=i18n("train.main_port"))
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
        plot = gr.LinePlot(x="step", y="loss", color="series", label=i18n("train.loss"), height=300,
                           elem_id="loss-plot")
        log = gr.HTML(log_html(""), label=i18n("train.log"), elem_id="train-log")  # anchored at its tail
    history = gr.Dataframe(headers=HISTORY_COLUMNS, interactive=False, label=i18n("train.history"))
    with gr.Row():
        compare = gr.Dropdown([], multiselect=True, label=i18n("train.compare"), scale=3)
        compare_go = gr.Button(i18n("train.compare_go"), scale=1)
    compare_plot = gr.LinePlot(x="step", y="loss", color="series", height=300)

    fields = [(model, "model"), (template, "template"), (max_steps, "max_steps"), (lr, "learning_rate"),
              (rank, "lora_r"), (batch, "batch_size"), (max_len, "max_length"), (four_bit, "load_in_4bit"),
              (alpha, "lora_alpha"), (dropout, "lora_dropout"), (targets, "target_modules"), (rslora, "use_rslora"),
              (dora, "use_dora"), (grad_ckpt, "gradient_checkpointing"), (group_len, "group_by_length"),
              (pad_free, "padding_free"), (liger, "use_liger"), (double_q, "double_quant"), (accum, "grad_accum"),
              (epochs, "epochs"),
              (warmup, "warmup_steps"),
              (sched, "scheduler"), (wd, "weight_decay"), (optim, "optimizer"), (seed, "seed"),
              (neftune, "neftune_alpha"), (eval_frac, "eval_fraction"), (save_steps, "save_steps"),
              (add_tokens, "add_control_tokens"),
              (replay, "replay_share"), (replay_sys, "replay_system"), (packing, "packing"),
              (procs, "num_processes"), (strategy, "strategy"), (machines, "num_machines"),
              (machine_rank, "machine_rank"), (address, "main_address"), (port, "main_port"),
              (override, "allow_doctor_errors"), (remote, "trust_remote_code")]
    widgets = [w for w, _ in fields]

    def to_config(session: ps.EditSession | None, *values) -> TrainConfig:
        data = {name: v for (_, name), v in zip(fields, values)}
        data["neftune_alpha"] = data["neftune_alpha"] or None
        data["data"] = session.folder if session else ""
        return TrainConfig.from_dict(data, "Train tab")  # names the source in a message; not shown alone

    def on_estimate(session, *values):
        *values, lg = values
        try:
            cfg = to_config(None, *values)
            where = cfg.model if cfg.model in PRESETS else resolve(cfg.model)
        except StudioError as e:
            return e.render(lg)
        device, free = available_memory()
        lengths = approx_lengths(session.persona, where) if session else None
        est = estimate(cfg, where, device, free, lengths)
        return est.summary(lg) if est else tr(lg, "train.no_estimate")

    def freed():
        n = chats.release_all()  # every tab's chat models; the worker needs seconds of imports before it loads
        return T("train.released", n=n) if n else ""

    def on_start(session, *values):
        *values, lg = values
        warnings: list = []
        try:
            cfg = to_config(session, *values)
            run = launch.start_run(cfg, runs_dir(), warnings=warnings)
        except StudioError as e:
            return e.render(lg), gr.skip()  # a refused start keeps the chat models loaded
        return tr(lg, "train.started", run=run.name, released=freed(),
                  warnings=T("train.warnings", items=tuple(warnings)) if warnings else ""), str(run)

    def on_stop(cur, lg):
        if not cur:
            return tr(lg, "train.no_run")
        try:
            request_stop(Path(cur))
            return tr(lg, "train.stop_requested")
        except StudioError as e:
            return e.render(lg)

    def on_resume(cur, lg):
        if not cur:
            return tr(lg, "train.pick_run")
        try:
            skipped = tuple(T("train.skipped", name=n, why=why) for n, why in damaged_checkpoints(Path(cur)))
            launch.resume_run(Path(cur), runs_dir())
            return tr(lg, "train.resuming", run=Path(cur).name, ckpt=latest_checkpoint(Path(cur)).name,
                      skipped=skipped, released=freed())
        except StudioError as e:
            return e.render(lg)

    def recipe_values(cfg: TrainConfig) -> list:
        return [cfg.neftune_alpha or 0 if name == "neftune_alpha" else getattr(cfg, name) for _, name in fields]

    def on_preset(choice, applied):
        """A model picked (or typed and left) fills every setting from its recipe on this device; the same
        model again, or a keystroke, changes nothing the user set."""
        choice = choice or "default"
        if choice == applied:
            return [gr.skip()] * (len(fields) - 1) + [gr.skip()]
        return [*recipe_values(recipe(choice))[1:], choice]

    def show_settings(cur):
        """After a page load: the attached run's own settings (what it trains with), else the recipe."""
        cfg = None
        if cur and (Path(cur) / "config.yaml").exists():
            try:
                cfg = TrainConfig.load(Path(cur) / "config.yaml")
            except StudioError:
                cfg = None
        cfg = cfg or recipe("default")
        return [*recipe_values(cfg), cfg.model]

    def on_prepare(lg, progress=gr.Progress()):
        from studio.default_model import prepare_default_model
        try:
            return tr(lg, "train.ready",
                      path=prepare_default_model(progress=lambda f, m: progress(f, desc=render(m, lg))))
        except StudioError as e:
            return e.render(lg)

    def attach(cur):
        """On page load or refresh: the running job, else this tab's run, else the latest."""
        runs = list_runs(runs_dir())
        active = next((r for r in runs if r.state in ACTIVE), None)
        pick = active.path if active else Path(cur) if cur else runs[0].path if runs else None
        return str(pick) if pick else None

    def tick(cur, lg, session=None, shown=None):
        cur = cur or attach(None)  # a fresh page or client follows the running (or latest) run
        run = Path(cur) if cur else None
        text, frac = progress_text(run, lg)
        hist = history_frame(runs_dir(), lg)
        value, shown = plot_update(loss_frame([run]) if run else loss_frame([]), shown or [])
        return (text, progress_html(frac), value, log_html(launch.tail_log(run) if run else ""), hist,
                gr.Dropdown(choices=list(hist.iloc[:, 0]) if len(hist) else []), persona_line(session, run, lg), shown)

    def pick_history(evt: gr.SelectData, df):
        try:
            return str(find_run(str(df.iloc[evt.index[0], 0]), runs_dir()))
        except (StudioError, IndexError):
            return gr.skip()

    def on_compare(ids):
        yield None  # drawn anew for every comparison (see plot_update): each run gets its own colored line
        frame = loss_frame([runs_dir() / i for i in ids or []], label_by_run=True)
        yield plot_update(frame, [])[0]

    for event in (model.select, model.blur):
        event(on_preset, [model, applied_model], [*widgets[1:], applied_model], api_visibility="private")
    for w in widgets:
        w.change(on_estimate, [persona.session, *widgets, lang], [memory], api_visibility="private",
                 trigger_mode="always_last")
    prepare.click(on_prepare, [lang], [message], api_name="prepare_default").then(
        on_estimate, [persona.session, *widgets, lang], [memory], api_visibility="private")  # the model's size
    start.click(on_start, [persona.session, *widgets, lang], [message, current], api_name="start_training")
    stop.click(on_stop, [current, lang], [message], api_name="stop_training")
    resume.click(on_resume, [current, lang], [message], api_name="resume_training")
    outputs = [progress, bar, plot, log, history, compare, persona_info, plotted]
    timer = gr.Timer(1.5)
    timer.tick(tick, [current, lang, persona.session, plotted], outputs, api_visibility="private")
    refresh_btn.click(tick, [current, lang, persona.session, plotted], outputs, api_name="train_progress")
    history.select(pick_history, [history], [current], api_visibility="private").then(
        show_settings, [current], [*widgets, applied_model], api_visibility="private")
    compare_go.click(on_compare, [compare], [compare_plot], api_name="compare_runs")

    def first_start_notice(lg):
        from studio.default_model import is_prepared
        return gr.skip() if is_prepared() else tr(lg, "train.first_start")

    return TrainTab(notice=first_start_notice, message=message, attach=attach, current=current, tick=tick,
                    tick_outputs=outputs, memory=memory, on_estimate=on_estimate, widgets=widgets,
                    show_settings=show_settings, settings_outputs=[*widgets, applied_model])
