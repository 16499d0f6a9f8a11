"""Default settings per device. On CUDA: the source notes' QLoRA recipe (4-bit NF4, r=16, alpha=16, adamw_8bit,
lr 2e-4), packed (see below). On the CPU, measured on a 2-core machine with the embedded
SmolLM2-135M: NF4 4-bit matmuls ran ~6x slower per step than fp32 (57 s vs 9.8 s for a 1k-token micro-batch), and a
135M model fits in RAM, so the CPU recipe trains the fp32 base with LoRA, 4 examples a step (padding-free), a higher
learning rate.
4-bit stays one tick away for anyone who wants it."""
from __future__ import annotations

from studio.core.models import PRESETS
from studio.train.config import TrainConfig

# Replay (the base's own answers to general prompts, rendered with the persona's system prompt) as a quarter of the
# training rows. Measured on the default model and the sample persona (README, "Replay"): without replay the tuned
# character answered 0 of 45 general questions correctly (base 15); with this it answered 18, at style 0.94, stop 1.0.
DEFAULT_REPLAY_SHARE = 0.25
# Not for a base checkpoint (the embedded Gemma 3 270M): asked as text, its own answers are weak and often repeat,
# and replaying them cost knowledge instead of keeping it. Measured (python -m bench.bench_default, sample persona,
# CPU recipe, 60 steps): free-form knowledge 17/45 for the base (asked as text); tuned 13/45 with replay 0.25 (and
# style 0.83, stop 0.94), 16/45 without (stop 0.97), and making the 100 answers took ~35 min on a busy 2-core CPU.


def detect_device() -> str:
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


# Packing: whole examples filling rows of max_length, one row per micro-batch. On CUDA by default: rows of 1024 tokens,
# 2 a step, 40 steps, about the source notes' 60 steps x 8 examples of data (derived, not measured here: no GPU was
# lent). Not on the CPU, by measurement (README, "Time to target"; default model, sample persona): padding-free
# batches of 4 examples reached style 0.86 at step 20 (48 s of training) and style 0.97 / stop 1.00 after 60 steps
# (142 s); packed (4 rows a step, 24 steps) needed all 24 steps (157 s) for style 0.86 / stop 0.97. Few, full steps
# learn the style more slowly than many small ones, and on the CPU a packed token is no cheaper (no flash-attention).
CUDA_PACKED_STEPS = 40


def recipe(model: str = "default", device: str | None = None) -> TrainConfig:
    from studio.core.embedded_models import embedded
    spec = embedded(model)
    replay = 0.0 if spec is not None and not spec.instruct else DEFAULT_REPLAY_SHARE
    cfg = TrainConfig(model=model, template=PRESETS.get(model, "model"), replay_share=replay,
                      replay_system="persona")
    if (device or detect_device()) == "cpu":
        cfg.load_in_4bit = False
        cfg.batch_size, cfg.grad_accum = 4, 1
        cfg.max_length = 512
        cfg.learning_rate = 1e-3
        cfg.warmup_steps = 3
    else:
        # one packed row per micro-batch: a padding-free batch is one row whose block-diagonal attention sdpa
        # computes in full, so rows side by side would cost attention quadratic in all of them (without flash-attn)
        cfg.packing = True
        cfg.batch_size, cfg.grad_accum = 1, 2
        cfg.max_steps = CUDA_PACKED_STEPS
    return cfg


# 'Quick test settings' in the Train tab: the whole loop in minutes (a few steps, no replay, no held-out rows)
QUICK_TEST = {"max_steps": 5, "save_steps": 5, "replay_share": 0.0, "eval_fraction": 0.0}


def preference_recipe(parent: TrainConfig, method: str) -> TrainConfig:
    """A preference run's settings: the parent's (model, template, LoRA shape, lengths), the method's defaults, no
    replay (the parent already mixed it in)."""
    from dataclasses import replace

    from studio.train.methods import get_method
    m = get_method(method)
    return replace(parent, method=method, learning_rate=m.learning_rate, max_steps=m.max_steps,
                   batch_size=m.batch_size, grad_accum=1, loss_type=m.default_loss, replay_share=0.0, packing=False,
                   warmup_steps=0, epochs=1.0)
