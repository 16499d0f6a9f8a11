"""Settings declared once: a dataclass field made with `setting(...)` carries its help text, its group, its choices
and how the UI shows it; from that one declaration come the command-line flags, the YAML/dict reading with its
type checks, and the form's widgets (studio/ui/settings_form.py). Standard library only."""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Widget:
    """How a form shows a setting: its kind, the row it sits in, and the locale keys of its label and hint."""
    kind: str                   # number | int | checkbox | dropdown | radio | slider | choices | text | custom
    row: str                    # the form's row (rows are laid out in the order the form names them)
    label: str = ""             # locale key of the label ("" = the field's own name, as practitioners know it)
    hint: str = ""              # locale key of the hint under it
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Meta:
    help: str
    group: str
    choices: tuple | Callable[[], tuple] | None = None
    ui: Widget | None = None    # None: not in the UI, for the reason given in `not_in_ui`
    not_in_ui: str = ""
    flag: bool = True           # every setting has a command-line flag unless told otherwise
    aliases: tuple[str, ...] = ()   # more flags for the same setting (e.g. --from for parent_run)
    at_least: float | None = None   # the value's range: >= at_least, > above, < below (None: no bound)
    above: float | None = None
    below: float | None = None
    inherited: bool = False     # a run started from a parent run (DPO, KTO) takes it from the parent
    preference: bool = False    # only for methods that start from a parent: shown for them alone

    def choice_list(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices


def setting(default: Any = MISSING, *, help: str, group: str, factory: Callable[[], Any] | None = None,
            choices: tuple | Callable[[], tuple] | None = None, ui: Widget | None = None, not_in_ui: str = "",
            flag: bool = True, aliases: tuple[str, ...] = (), at_least: float | None = None,
            above: float | None = None, below: float | None = None, inherited: bool = False,
            preference: bool = False) -> Any:
    """A dataclass field with its metadata. A setting is either shown (`ui=Widget(...)`) or says why it is not.
    `choices` (for a text setting) and the range (at_least / above / below) are checked by `declared_problem`."""
    if ui is None and not not_in_ui:
        raise ValueError("a setting is shown in the UI or says why not (not_in_ui=...)")
    meta = {"setting": Meta(help, group, choices, ui, not_in_ui, flag, aliases, at_least, above, below, inherited,
                            preference)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def meta_of(f: Field) -> Meta:
    return f.metadata["setting"]


def settings_of(cls: type) -> list[Field]:
    """The declared settings of a dataclass, in declaration order."""
    return [f for f in fields(cls) if "setting" in f.metadata]


def flagged(cls: type, flag: str) -> tuple[str, ...]:
    """The names of the settings whose declaration sets `flag` (inherited, preference), in declaration order."""
    return tuple(f.name for f in settings_of(cls) if getattr(meta_of(f), flag))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field's annotation such as `float | None` or `list[str]`."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        return rest[0], len(rest) < len(args)
    return hint, False


class BadValue(ValueError):
    """A value that does not fit the setting's type (the caller names the source and the field)."""


def coerce(cls: type, name: str, value: Any) -> Any:
    """The value as the field's type: '2' -> 2 for an int, 'yes' -> True for a bool; raises BadValue."""
    kind, optional = _base_type(_hints(cls)[name])
    if value is None:
        if optional or kind in (str, list) or typing.get_origin(kind) is list:
            return None
        raise BadValue(name)
    # only scalars are ever turned into text here: str() of a list or mapping built from YAML aliases expands it
    if kind is bool:
        if isinstance(value, bool):
            return value
        if not isinstance(value, (str, int)) or len(str(value)) > 8:
            raise BadValue(name)
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    if kind is str:
        if not isinstance(value, str):
            raise BadValue(name)
        return value
    if typing.get_origin(kind) is list or kind is list:
        if isinstance(value, str):   # one name, or a pattern peft reads ("all-linear")
            return value
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise BadValue(name)
        return list(value)
    if not isinstance(value, (str, int, float)):
        raise BadValue(name)
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise BadValue(name)
        return kind(value)
    except (TypeError, ValueError):
        raise BadValue(name) from None


def kind_of(cls: type, name: str) -> str:
    """The kind of value a setting takes, as one word: text, texts (a list of text), int, float or bool."""
    kind, _ = _base_type(_hints(cls)[name])
    if typing.get_origin(kind) is list or kind is list:
        return "texts"
    return {str: "text", bool: "bool", int: "int", float: "float"}.get(kind, "text")


def shown_value(value: Any) -> str:
    """A value for a message, never longer than a line (a list or mapping is named, not written out)."""
    if isinstance(value, (list, tuple)):
        return f"[… {len(value)}]"
    if isinstance(value, dict):
        return f"{{… {len(value)}}}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def declared_problem(values: Any):
    """The first setting whose value breaks its own declaration — not one of its choices, or out of its range — as
    a message naming the setting (a locale Text), else None. Rules between settings are the caller's."""
    from studio.locale import T
    for f in settings_of(type(values)):
        meta, value = meta_of(f), getattr(values, f.name)
        choices = meta.choice_list()
        if choices is not None and isinstance(value, str) and value not in choices:
            return T("cfg.not_a_choice", name=f.name, choices=", ".join(repr(c) if c == "" else str(c)
                                                                         for c in choices))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low_ok = (meta.at_least is None or value >= meta.at_least) and (meta.above is None or value > meta.above)
            if not low_ok or (meta.below is not None and value >= meta.below):
                rules = [T("cfg.rule.at_least", v=meta.at_least)] if meta.at_least is not None else []
                rules += [T("cfg.rule.above", v=meta.above)] if meta.above is not None else []
                rules += [T("cfg.rule.below", v=meta.below)] if meta.below is not None else []
                rule = rules[0] if len(rules) == 1 else T("cfg.rule.both", first=rules[0], second=rules[1])
                return T("cfg.out_of_range", name=f.name, rules=rule, value=value)
    return None


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = ()) -> None:
    """One flag per declared setting (--lora-r, --packing/--no-packing, --target-modules a b): every flag defaults
    to None, so `given_flags` can tell what was typed from what was not."""
    hints = _hints(cls)
    for f in settings_of(cls):
        meta = meta_of(f)
        if not meta.flag or f.name in skip:
            continue
        kind, _ = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": meta.help}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is list:
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = kind
            if meta.choices is not None:
                kwargs["choices"] = meta.choice_list()
        parser.add_argument(flag_name(f.name), *meta.aliases, **kwargs)


def command_flags(values: Any, base: Any) -> list[str]:
    """The flags that turn `base` (what the command starts from) into `values`: one per declared setting that
    differs, in declaration order — `add_flags`' inverse, so a shown command line rebuilds the same settings."""
    import shlex
    out: list[str] = []
    for f in settings_of(type(values)):
        new, old = getattr(values, f.name), getattr(base, f.name)
        if not meta_of(f).flag or new == old:
            continue
        if isinstance(new, bool):
            out.append(flag_name(f.name) if new else "--no-" + f.name.replace("_", "-"))
        elif isinstance(new, list):
            out += [flag_name(f.name), *(shlex.quote(str(v)) for v in new)]
        else:
            out += [flag_name(f.name), shlex.quote(str(new))]
    return out


def given_flags(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings given on the command line, by field name."""
    return {f.name: getattr(args, f.name) for f in settings_of(cls) if getattr(args, f.name, None) is not None}


def defaults_of(cls: type) -> dict[str, Any]:
    return dataclasses.asdict(cls())
