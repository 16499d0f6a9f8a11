"""Training methods, one record each: what a method needs (a parent run?), its losses (the default first), the
settings a run of it starts from, and its checks. This module imports no trainer and nothing of studio's; the
heavy part of a method (how its data is made, which trainer learns from it) is a module beside this one, imported
only by the worker (studio/train/worker.py `method_module`). Adding a method: a record here and its module."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    needs_parent: bool                   # starts from a finished run's adapter and its preference file
    losses: tuple[str, ...] = ()         # the losses it may train with, its default first ('' when it has none)
    learning_rate: float | None = None   # the settings a run of it starts from (None: the model's recipe)
    max_steps: int | None = None
    batch_size: int | None = None
    min_batch: int = 1                   # KTO's KL estimate pairs each row with another in its batch
    ratings: bool = False                # learns from single good/bad replies too (not only A/B pairs)

    @property
    def default_loss(self) -> str:
        return self.losses[0] if self.losses else ""


# Preference runs start from a tuned adapter and only nudge it: few steps, batches of 4. Measured with
# bench/bench_prefs.py (README, "Learning from the votes"; SmolLM2 parent, simulated voter, CPU, one seed): plain
# DPO at 5e-5 kept style/stop/knowledge but did not move toward the voter (rule 0.00); at 1.5e-4 it followed partly
# (0.11) but a third of replies stopped ending; at 5e-4 it collapsed. DPO with the SFT term on the chosen reply
# (sigmoid+sft, RPO-style) at 5e-4 followed the voter most (0.23) and kept style 0.97, stop 1.00, free-form 0.47
# (SFT parent 0.42): that is DPO's default. KTO stays at 5e-5 (not measured above it yet).
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("sft", needs_parent=False),
    Method("dpo", needs_parent=True, losses=("sigmoid+sft", "sigmoid", "ipo", "hinge", "robust"),
           learning_rate=5e-4, max_steps=30, batch_size=4),
    Method("kto", needs_parent=True, losses=("kto", "apo_zero_unpaired"), learning_rate=5e-5, max_steps=30,
           batch_size=4, min_batch=2, ratings=True),
)}


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


def get_method(name: str) -> Method:
    if name not in METHODS:
        from studio.core.errors import StudioError
        from studio.locale import T
        raise StudioError("err.config.invalid", message=T("cfg.method", choices=", ".join(METHODS)))
    return METHODS[name]


def all_losses() -> tuple[str, ...]:
    """Every loss some method takes ('' = the method's default), for the setting's choices."""
    return ("",) + tuple(sorted({loss for m in METHODS.values() for loss in m.losses}))
