"""Training methods: how a run's data is made and which trainer learns from it. A method is a module with
`data(setup) -> TrainData` and `trainer(setup, data, model, lora) -> Trainer`; adding one is a module here and a
line in METHODS (and its name in TrainConfig's `method` choices comes from this table)."""
from __future__ import annotations

import importlib
from types import ModuleType

# name -> module (imported only when a run uses it)
METHODS = {"sft": "studio.train.methods.sft", "dpo": "studio.train.methods.dpo", "kto": "studio.train.methods.kto"}


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        from studio.core.errors import StudioError
        from studio.locale import T
        raise StudioError("err.config.invalid", message=T("cfg.method", choices=", ".join(METHODS)))
    return importlib.import_module(METHODS[name])
