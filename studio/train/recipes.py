"""Default settings per device. On CUDA: the source notes' QLoRA recipe (4-bit NF4, r=16, alpha=16, adamw_8bit,
lr 2e-4, batch 2 x accumulation 4, 60 steps). On the CPU, measured on a 2-core machine with the embedded
SmolLM2-135M: NF4 4-bit matmuls ran ~6x slower per step than fp32 (57 s vs 9.8 s for a 1k-token micro-batch), and a
135M model fits in RAM, so the CPU recipe trains the fp32 base with LoRA, 4 examples a step, a higher learning rate.
4-bit stays one tick away for anyone who wants it."""
from __future__ import annotations

from studio.models import PRESETS
from studio.train.config import TrainConfig

# Replay (the base's own answers to general prompts, rendered with the persona's system prompt) as a quarter of the
# training rows. Measured on the default model and the sample persona (README, "Replay"): without replay the tuned
# character answered 0 of 45 general questions correctly (base 15); with this it answered 18, at style 0.94, stop 1.0.
DEFAULT_REPLAY_SHARE = 0.25


def detect_device() -> str:
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def recipe(model: str = "default", device: str | None = None) -> TrainConfig:
    cfg = TrainConfig(model=model, template=PRESETS.get(model, "model"), replay_share=DEFAULT_REPLAY_SHARE,
                      replay_system="persona")
    if (device or detect_device()) == "cpu":
        cfg.load_in_4bit = False
        cfg.batch_size, cfg.grad_accum = 4, 1
        cfg.max_length = 512
        cfg.learning_rate = 1e-3
        cfg.warmup_steps = 3
    return cfg
