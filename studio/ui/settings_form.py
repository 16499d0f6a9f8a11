"""Widgets for declared settings (studio/core/settings.py): each shown field becomes the widget its declaration
names, labelled in the UI's language; values go to and from a config by field name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import gradio as gr

from studio.core.settings import Meta, meta_of, settings_of


def _widget(name: str, meta: Meta, default: Any, i18n: gr.I18n) -> gr.components.Component:
    ui = meta.ui
    label = i18n(ui.label or f"field.{name}")   # every shown setting has a label in each language
    info = {"info": i18n(ui.hint)} if ui.hint and ui.kind != "radio" else {}
    limits = {k: v for k, v in (("minimum", ui.minimum), ("maximum", ui.maximum)) if v is not None}
    if ui.kind == "int":
        return gr.Number(default, precision=0, label=label, **limits, **info)
    if ui.kind == "number":
        return gr.Number(0 if default is None else default, label=label, **limits, **info)
    if ui.kind == "checkbox":
        return gr.Checkbox(default, label=label, **info)
    if ui.kind == "dropdown":
        return gr.Dropdown(list(meta.choice_list()), value=default, label=label, **info)
    if ui.kind == "choices":
        return gr.CheckboxGroup(list(meta.choice_list()), value=list(default), label=label, **info)
    if ui.kind == "slider":
        return gr.Slider(ui.minimum, ui.maximum, value=default, step=ui.step, label=label, **info)
    if ui.kind == "radio":  # the hint is the locale prefix of each choice's label
        choices = [(i18n(f"{ui.hint}{c}"), c) for c in meta.choice_list()]
        return gr.Radio(choices, value=default, label=label)
    if ui.kind == "text":
        return gr.Textbox(default, label=label, **info)
    raise ValueError(f"{name}: {ui.kind!r}")  # a programming error: kind "custom" needs a builder


def build_row(cls: type, row: str, i18n: gr.I18n, custom: dict[str, Callable[[], Any]] | None = None,
              defaults: Any = None) -> dict[str, Any]:
    """The widgets of one row, by field name, in declaration order (custom builders for kind 'custom')."""
    defaults = defaults if defaults is not None else cls()
    out = {}
    for f in settings_of(cls):
        meta = meta_of(f)
        if meta.ui is None or meta.ui.row != row:
            continue
        out[f.name] = custom[f.name]() if meta.ui.kind == "custom" else _widget(f.name, meta, getattr(defaults, f.name),
                                                                               i18n)
    return out


def shown_names(cls: type) -> list[str]:
    """The shown settings' names in declaration order: the order of the form's inputs, whatever rows hold them."""
    return [f.name for f in settings_of(cls) if meta_of(f).ui is not None]


def form_values(cfg: Any, names: list[str]) -> list[Any]:
    """A config's values in the widgets' order (None numbers shown as 0)."""
    return [0 if getattr(cfg, n) is None and meta_of(_field(type(cfg), n)).ui.kind == "number" else getattr(cfg, n)
            for n in names]


def from_form(cls: type, names: list[str], values: list[Any]) -> dict[str, Any]:
    """The widgets' values by field name (0 in an optional number means 'off', i.e. None)."""
    out = {}
    for name, value in zip(names, values):
        f = _field(cls, name)
        optional = "None" in str(f.type)
        out[name] = None if optional and meta_of(f).ui.kind == "number" and not value else value
    return out


def _field(cls: type, name: str):
    return next(f for f in fields(cls) if f.name == name)
