"""The Train tab: model and settings, memory estimate, start/stop/resume, live progress, loss plot, log tail and
run history. Training runs in a child process (studio.train.launch); this tab only reads its files."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from studio.core.errors import StudioError
from studio.core.models import PRESETS, model_choices, resolve
from studio.core.settings import flagged
from studio.core.workspace import home, runs_dir
from studio.data import persona_session as ps
from studio.jobs.checkpoints import damaged_checkpoints, latest_checkpoint
from studio.jobs.folders import Run, find_run
from studio.jobs.launcher import tail_log, to_follow
from studio.jobs.runs import can_be_parent, runs_that
from studio.locale import T, render, tr
from studio.serve.chat_session import ChatRegistry
from studio.train import launch
from studio.train.config import TrainConfig
from studio.train.distributed import visible_gpus
from studio.train.memory import approx_lengths, available_memory, estimate
from studio.train.plan import plan_run, preference_rows
from studio.train.recipes import QUICK_TEST, recipe
from studio.train.setups import list_setups, load_setup, save_setup
from studio.train.views import (
    HISTORY_COLUMNS,
    history_frame,
    log_html,
    loss_frame,
    persona_line,
    plot_update,
    progress_html,
    progress_text,
)
from studio.ui.blank import axis_titles, blank
from studio.ui.common import template_choices
from studio.ui.job_panel import stop as job_stop
from studio.ui.persona_tab import PersonaTab
from studio.ui.settings_form import build_row, form_values, from_form, shown_names

# The rows of declared settings (TrainConfig's `ui=` row names), in the order the tab lays them out: the top row,
# the method row, the main row and replay; the advanced accordion's six rows; several processes or machines.
ROWS = ("top", "method", "main", "replay", "adv.lora", "adv.flags", "adv.packing", "adv.optim", "adv.optim2",
        "adv.tokens", "scale")
PREFERENCE_FIELDS = flagged(TrainConfig, "preference")  # shown for methods that start from a parent run only
STARTS = ("learning_rate", "max_steps", "batch_size", "replay_share")  # a method's starting settings (on_method)


NAMES = shown_names(TrainConfig)  # the inputs' order: TrainConfig's declaration order ("model" first: on_preset)


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
    fields: dict                # the settings' widgets by field name
    method_outputs: list        # what on_method fills


def to_config(session: ps.EditSession | None, *values) -> TrainConfig:
    data = from_form(TrainConfig, NAMES, list(values))
    data["data"] = str(session.folder) if session else ""
    cfg = TrainConfig.from_dict(data, "Train tab")  # names the source in a message; not shown alone
    from studio.train.preference_launch import confine
    return confine(cfg, runs_dir(), [home(), runs_dir()])   # a browser never names a file outside the studio


def on_preview(session, *values):
    """The exact command line for the settings shown: `studio train` from this model's recipe, plus what differs."""
    *values, lg = values
    from studio.core.settings import command_flags
    try:
        cfg = to_config(session, *values)
    except StudioError as e:
        return e.render(lg)
    base = recipe(cfg.model)
    if cfg.needs_parent:   # a preference run starts from its parent's settings and the method's defaults
        from studio.train.preference_launch import parent_of
        from studio.train.recipes import preference_recipe
        try:
            base = preference_recipe(parent_of(cfg, runs_dir())[1], cfg.method)
        except StudioError as e:
            return e.render(lg)
    import shlex
    return " ".join(["python -m studio train", "--model", shlex.quote(cfg.model), *command_flags(cfg, base)])


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
    rows, note = len(session.persona.pairs) if session else 0, ""
    if cfg.needs_parent:   # a preference run trains on its preference file, not on the persona's rows
        counted = preference_rows(cfg) if cfg.preferences else None
        rows = counted[0] if counted else 0
        note = "\n" + tr(lg, "plan.preferences", method=cfg.method.upper(), rows=rows,
                         ratings=counted[1] if counted else 0) if counted else ""
    plan = plan_run(cfg, rows, runs_dir())
    return (est.summary(lg) if est else tr(lg, "train.no_estimate")) + note + \
        ("\n" + plan.summary(lg) if plan else "")


def on_start(chats: ChatRegistry, session, *values):
    *values, lg = values
    warnings: list = []
    try:
        cfg = to_config(session, *values)
        run = launch.start_run(cfg, runs_dir(), warnings=warnings)
    except StudioError as e:
        return e.render(lg), gr.skip()  # a refused start keeps the chat models loaded
    return tr(lg, "train.started", run=run.name, released=chats.release_for_job(),
              warnings=T("train.warnings", items=tuple(warnings)) if warnings else ""), str(run)


def on_stop(cur, lg):
    return job_stop(cur, lg, "train.no_run", "train.stop_requested")


def on_resume(chats: ChatRegistry, cur, lg):
    if not cur:
        return tr(lg, "train.pick_run")
    try:
        skipped = tuple(T("train.skipped", name=n, why=why) for n, why in damaged_checkpoints(Path(cur)))
        launch.resume_run(Path(cur), runs_dir())
        return tr(lg, "train.resuming", run=Path(cur).name, ckpt=latest_checkpoint(Path(cur)).name,
                  skipped=skipped, released=chats.release_for_job())
    except StudioError as e:
        return e.render(lg)


def recipe_values(cfg: TrainConfig) -> list:
    return form_values(cfg, NAMES)


def on_preset(choice, applied):
    """A model picked (or typed and left) fills every setting from its recipe on this device; the same
    model again, or a keystroke, changes nothing the user set."""
    choice = choice or "default"
    if choice == applied:
        return [gr.skip()] * (len(NAMES) - 1) + [gr.skip()]
    return [*recipe_values(recipe(choice))[1:], choice]


def on_save_setup(session, name, *values):
    """Every setting shown, under a name (the CLI's --config reads the file)."""
    *values, lg = values
    try:
        path = save_setup(name, to_config(session, *values))
    except StudioError as e:
        return e.render(lg), gr.skip()
    return tr(lg, "setup.saved", name=path.stem, path=str(path)), gr.Dropdown(choices=list_setups(), value=path.stem)


def on_list_setups(current):
    """The saved setups as they are now (saved in another window or by `studio` since this page was built)."""
    names = list_setups()
    return gr.Dropdown(choices=names, value=current if current in names else None)


def on_load_setup(name, lg):
    """A saved setup fills every setting (the model's recipe is not applied over it)."""
    try:
        cfg = load_setup(name)
    except StudioError as e:
        return [gr.skip()] * (len(NAMES) + 1) + [e.render(lg)]
    return [*recipe_values(cfg), cfg.model, tr(lg, "setup.loaded", name=name)]




def on_quick_test(lg):
    """A few steps to try the whole loop (train, chat, merge, export) before a real run."""
    return [*QUICK_TEST.values(), tr(lg, "train.quick_set", steps=QUICK_TEST["max_steps"])]


def show_settings(cur):
    """After a page load: the attached run's own settings (what it trains with), else the recipe."""
    cfg = None
    if cur and Run(Path(cur)).config.exists():
        try:
            cfg = TrainConfig.load(Run(Path(cur)).config)
        except StudioError:
            cfg = None
    cfg = cfg or recipe("default")
    return [*recipe_values(cfg), cfg.model]


def on_prepare(lg, progress=gr.Progress()):  # noqa: B008 - gradio's way to ask for a progress bar
    from studio.export.embedded import prepare_default_model
    try:
        return tr(lg, "train.ready",
                  path=prepare_default_model(progress=lambda f, m: progress(f, desc=render(m, lg))))
    except StudioError as e:
        return e.render(lg)


def attach(cur):
    """On page load or refresh: the running job, else this tab's run, else the latest."""
    return to_follow(runs_dir(), ("train",), cur)


def tick(cur, lg, session=None, shown=None):
    cur = cur or attach(None)  # a fresh page or client follows the running (or latest) run
    run = Path(cur) if cur else None
    text, frac = progress_text(run, lg)
    hist = history_frame(runs_dir(), lg)
    value, shown = plot_update(loss_frame([run] if run else [], lang=lg), shown or [])
    return (text, progress_html(frac), value, log_html(tail_log(run) if run else ""), hist,
            gr.Dropdown(choices=list(hist.iloc[:, 0]) if len(hist) else []), persona_line(session, run, lg), shown)


def pick_history(evt: gr.SelectData, df):
    try:
        return str(find_run(str(df.iloc[evt.index[0], 0]), runs_dir()))
    except (StudioError, IndexError):
        return gr.skip()


def on_compare(ids, lg: str = "en"):
    yield None  # drawn anew for every comparison (see plot_update): each run gets its own colored line
    frame = loss_frame([runs_dir() / i for i in ids or []], label_by_run=True, lang=lg)
    yield plot_update(frame, [])[0]


def parent_choices() -> list[str]:
    """Runs a preference run can start from: finished, with an adapter, newest first."""
    return runs_that(can_be_parent, runs_dir())


def on_method(method: str, parent: str | None):
    """dpo/kto: show the preference settings and fill the preference recipe's defaults; sft: hide them again."""
    from studio.train.methods import get_method
    m = get_method(method)
    pref = m.needs_parent
    shown = {name: gr.update(visible=pref) for name in PREFERENCE_FIELDS}
    shown["parent_run"] = gr.update(visible=pref, choices=parent_choices(), value=parent or "")
    starts = {name: gr.skip() for name in STARTS}
    if pref:
        shown["loss_type"] = gr.update(visible=True, value=m.default_loss)
        starts = {"learning_rate": m.learning_rate, "max_steps": m.max_steps, "batch_size": m.batch_size,
                  "replay_share": 0.0}
    return [*shown.values(), *(starts[name] for name in STARTS)]


def first_start_notice(lg):
    from studio.export.embedded import is_prepared
    return gr.skip() if is_prepared() else tr(lg, "train.first_start")


def build_train_tab(i18n: gr.I18n, persona: PersonaTab, chats: ChatRegistry, lang: gr.State) -> TrainTab:
    D = TrainConfig()  # widget defaults; the page's load event then applies this device's recipe
    current = gr.State(None)  # this browser tab's run directory (str)
    applied_model = gr.State("default")  # the model whose recipe the fields hold (typing alone changes nothing)
    plotted = gr.State([])  # the loss series the plot was drawn with (see plot_update)
    persona_info = gr.Markdown()  # which persona Start trains, and which one the shown run trained
    custom = {"model": lambda: gr.Dropdown(model_choices(), value="default", allow_custom_value=True, scale=3,
                                           label=i18n("train.model"), info=i18n("train.model_info")),
              "template": lambda: gr.Radio(template_choices(i18n), value="model", label=i18n("format.template"),
                                           scale=2),
              "parent_run": lambda: gr.Dropdown(parent_choices(), value="", allow_custom_value=True,
                                                label=i18n("train.parent_run"), info=i18n("train.parent_hint"))}
    shown: dict = {}
    with gr.Row():
        shown |= build_row(TrainConfig, "top", i18n, custom, D)
        prepare = gr.Button(i18n("train.prepare"), scale=1)
        quick = gr.Button(i18n("train.quick"), scale=1)
    for row in ROWS[1:4]:
        with gr.Row():
            shown |= build_row(TrainConfig, row, i18n, custom, D)
    for name in PREFERENCE_FIELDS:
        shown[name].visible = D.needs_parent
    with gr.Accordion(i18n("train.advanced"), open=False):
        for row in ROWS[4:10]:
            with gr.Row():
                shown |= build_row(TrainConfig, row, i18n, custom, D)
    gpus = visible_gpus()
    with gr.Accordion(i18n("train.scale"), open=gpus > 1):
        gr.Markdown(i18n("train.scale_note"))
        with gr.Row():
            shown |= build_row(TrainConfig, ROWS[10], i18n, custom, D)
    memory = gr.Textbox(label=i18n("train.memory"), interactive=False, lines=2)
    with gr.Accordion(i18n("setup.title"), open=False):
        with gr.Row():
            setup_name = gr.Textbox(label=i18n("setup.name"), scale=2)
            save_setup_btn = gr.Button(i18n("setup.save"), scale=1)
            setup_pick = gr.Dropdown(list_setups(), value=None, label=i18n("setup.pick"), scale=2)
            load_setup_btn = gr.Button(i18n("setup.load"), scale=1)
    with gr.Accordion(i18n("train.preview"), open=False):
        preview_go = gr.Button(i18n("train.preview_go"), size="sm")
        preview = gr.Code(language="shell", label=i18n("train.preview_hint"), interactive=False)
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
        plot = blank(gr.LinePlot(x="step", y="loss", color="series", label=i18n("train.loss"), height=300,
                                 elem_id="loss-plot"),
                     axis_titles(gr.LinePlot, "axis.step", "axis.loss", "axis.series"))
        log = gr.HTML(log_html(""), label=i18n("train.log"), elem_id="train-log")  # anchored at its tail
    history = blank(gr.Dataframe(headers=HISTORY_COLUMNS, interactive=False, label=i18n("train.history")),
                    lambda lg: history_frame(runs_dir(), lg))   # what the table holds, in any case
    with gr.Row():
        compare = gr.Dropdown([], multiselect=True, label=i18n("train.compare"), scale=3)
        compare_go = gr.Button(i18n("train.compare_go"), scale=1)
    compare_plot = blank(gr.LinePlot(x="step", y="loss", color="series", height=300),
                         axis_titles(gr.LinePlot, "axis.step", "axis.loss", "axis.series"))

    widgets = [shown[n] for n in NAMES]
    model = shown["model"]

    for event in (model.select, model.blur):
        event(on_preset, [model, applied_model], [*widgets[1:], applied_model], api_visibility="private")
    for w in widgets:
        w.change(on_estimate, [persona.session, *widgets, lang], [memory], api_visibility="private",
                 trigger_mode="always_last")
    prepare.click(on_prepare, [lang], [message], api_name="prepare_default").then(
        on_estimate, [persona.session, *widgets, lang], [memory], api_visibility="private")  # the model's size
    start.click(partial(on_start, chats), [persona.session, *widgets, lang], [message, current],
                api_name="start_training")
    stop.click(on_stop, [current, lang], [message], api_name="stop_training")
    preview_go.click(on_preview, [persona.session, *widgets, lang], [preview], api_name="preview_command")
    resume.click(partial(on_resume, chats), [current, lang], [message], api_name="resume_training")
    quick.click(on_quick_test, [lang], [*(shown[n] for n in QUICK_TEST), message], api_name="quick_test")
    save_setup_btn.click(on_save_setup, [persona.session, setup_name, *widgets, lang], [message, setup_pick],
                         api_name="save_setup")
    setup_pick.focus(on_list_setups, [setup_pick], [setup_pick], api_name="list_setups")
    load_setup_btn.click(on_load_setup, [setup_pick, lang], [*widgets, applied_model, message], api_name="load_setup")
    outputs = [progress, bar, plot, log, history, compare, persona_info, plotted]
    timer = gr.Timer(1.5)
    timer.tick(tick, [current, lang, persona.session, plotted], outputs, api_visibility="private")
    refresh_btn.click(tick, [current, lang, persona.session, plotted], outputs, api_name="train_progress")
    history.select(pick_history, [history], [current], api_visibility="private").then(
        show_settings, [current], [*widgets, applied_model], api_visibility="private")
    compare_go.click(on_compare, [compare, lang], [compare_plot], api_name="compare_runs")
    method_outputs = [shown[n] for n in (*PREFERENCE_FIELDS, *STARTS)]
    shown["method"].input(on_method, [shown["method"], shown["parent_run"]], method_outputs,
                          api_visibility="private")

    return TrainTab(notice=first_start_notice, message=message, attach=attach, current=current, tick=tick,
                    tick_outputs=outputs, memory=memory, on_estimate=on_estimate, widgets=widgets,
                    show_settings=show_settings, settings_outputs=[*widgets, applied_model], fields=shown,
                    method_outputs=method_outputs)
