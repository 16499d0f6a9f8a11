"""Starting a preference run (dpo, kto) from a finished run: everything is checked before anything loads but the
tokenizer — the parent (finished, with an adapter), the preference file (its shape, line by line), what the parent's
contract can render (counted by reason), enough of it to be worth a run — then the run folder gets the parent's
persona snapshot, its settings and the preferences it will train on."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.integrity import adapter_problem
from studio.core.models import resolve, seal_added_tokens
from studio.core.settings import flagged
from studio.core.storage import copy_plain_tree
from studio.data.preferences import read_preference_file, write_rows
from studio.format.contract import Contract
from studio.format.preference_render import RenderedPreferences, render_preferences
from studio.jobs.folders import Run, new_run_folder, output_inside, resolve_run
from studio.jobs.liveness import refresh
from studio.jobs.runs import RunInfo, can_be_parent
from studio.locale import T, Text
from studio.train.config import TrainConfig
from studio.train.methods import get_method
from studio.train.methods.preference import PREFERENCES_FILE

MAX_SNAPSHOT_BYTES = 200 * 2**20   # a persona snapshot is a few MB; more is not a persona
MIN_PREFERENCES = 8   # fewer pairs than this teach noise, not a preference
# what a preference run keeps from its parent (the model, its template and prompt, the adapter's shape): the
# settings declared `inherited` in studio/train/config.py
FROM_PARENT = flagged(TrainConfig, "inherited")


def parent_of(cfg: TrainConfig, runs_dir: Path) -> tuple[Run, TrainConfig]:
    """The parent run and its settings; refused unless it finished with an adapter."""
    if not cfg.parent_run:
        raise StudioError("err.config.invalid", message=T("cfg.parent_run"))
    parent = resolve_run(cfg.parent_run, runs_dir)
    info = RunInfo(parent.id, parent.path, refresh(parent.path))
    if not can_be_parent(info):
        raise StudioError("err.prefs.parent_unfinished", run=parent.id, state=T(f"state.{info.state}"))
    problem = adapter_problem(parent.adapter)   # the same check chat, merge and serve make before loading one
    if problem:
        raise StudioError("err.prefs.parent_unusable", run=parent.id, problem=problem)
    return parent, TrainConfig.load(parent.config) if parent.config.exists() else TrainConfig()


def confine(cfg: TrainConfig, runs_dir: Path, roots: list[Path]) -> TrainConfig:
    """What the UI (or any client) sends, kept inside the studio: the parent is a run of `runs_dir` (never a folder
    elsewhere, a "../" or a link) and the preference file lies inside one of `roots`."""
    if not cfg.needs_parent:
        return cfg
    if cfg.parent_run:
        cfg = replace(cfg, parent_run=resolve_run(cfg.parent_run, runs_dir, inside=True).id)
    if cfg.preferences:
        try:
            path = output_inside(cfg.preferences, roots)
        except StudioError:
            raise StudioError("err.prefs.outside", path=cfg.preferences,
                              roots=", ".join(str(r) for r in roots)) from None
        cfg = replace(cfg, preferences=str(path))
    return cfg


def rebase(cfg: TrainConfig, parent: Run, parent_cfg: TrainConfig) -> TrainConfig:
    """The run's settings on its parent's model, template and adapter shape (the adapter's contract says which base
    and template it was trained with); data is the parent's snapshot."""
    contract = Contract.load(parent.adapter)
    kept = {k: getattr(parent_cfg, k) for k in FROM_PARENT}
    kept.update(model=contract.base_model_path, template=contract.template,
                max_length=contract.max_length or parent_cfg.max_length)
    return replace(cfg, **kept, data=str(parent.data), parent_run=parent.id, replay_share=0.0, packing=False)


def check(cfg: TrainConfig, runs_dir: Path) -> tuple[TrainConfig, RenderedPreferences, list[Text]]:
    """Everything a preference run needs, checked; returns the rebased settings, the usable preferences and the
    warnings (what was skipped and why, settings adjusted)."""
    from transformers import AutoTokenizer
    parent, parent_cfg = parent_of(cfg, runs_dir)
    cfg = rebase(cfg, parent, parent_cfg)
    warnings: list[Text] = []
    method = get_method(cfg.method)
    if cfg.batch_size < method.min_batch:
        cfg = replace(cfg, batch_size=method.min_batch)
        warnings.append(T("prefs.kto_batch"))
    cfg.validate()
    resolve(cfg.model)   # the parent's base must still be there, before any folder is made
    prefs = read_preference_file(cfg.preferences)
    ratings = 0
    if not method.ratings:   # DPO learns from A/B pairs: ratings are left out, counted and said (not silently kept)
        ratings = sum(not p.paired for p in prefs)
        prefs = [p for p in prefs if p.paired]
    contract = Contract.load(parent.adapter)
    tokenizer = seal_added_tokens(AutoTokenizer.from_pretrained(parent.adapter))
    rendered = render_preferences(prefs, contract, tokenizer, cfg.max_length)
    if ratings:
        rendered.skipped["rating"] = ratings
    usable = len(rendered.rows)
    skipped = tuple(T("prefs.skipped_one", n=n, why=T(f"prefs.skip.{why}")) for why, n in rendered.skipped.items())
    if usable < MIN_PREFERENCES:
        raise StudioError("err.prefs.too_few", n=usable, need=MIN_PREFERENCES, skipped=skipped or "-")
    if method.ratings:
        labels = {True for r in rendered.rows if r.label is None} | {False for r in rendered.rows if r.label is None} \
            | {bool(r.label) for r in rendered.rows if r.label is not None}
        if len(labels) < 2:
            raise StudioError("err.prefs.one_label")
    if skipped:
        warnings.append(T("prefs.skipped", items=skipped))
    return cfg, rendered, warnings


def make_run_folder(cfg: TrainConfig, rendered: RenderedPreferences, runs_dir: Path) -> Run:
    """runs/<time>-<parent>-<method>: the parent's persona snapshot, the settings and the preferences to train on."""
    parent = resolve_run(cfg.parent_run, runs_dir)
    run = new_run_folder(runs_dir, f"{parent.id.split('-', 2)[-1]}-{cfg.method}")
    try:   # the parent's snapshot, never what its links point to (a link could name any file on the machine)
        copy_plain_tree(parent.data, run.data, MAX_SNAPSHOT_BYTES)
    except ValueError as e:
        shutil.rmtree(run.path, ignore_errors=True)
        raise StudioError("err.prefs.parent_snapshot", run=parent.id, reason=str(e)) from None
    write_rows(rendered.kept, run.path / PREFERENCES_FILE)
    cfg = replace(cfg, data=str(run.data))
    run.config.write_text(cfg.to_yaml(), encoding="utf-8")
    return run
