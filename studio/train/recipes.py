"""Default settings per device. On CUDA: the source notes' QLoRA recipe (4-bit NF4, r=16, alpha=16, adamw_8bit,
lr 2e-4), packed (see below). On the CPU, measured on a 2-core machine with the embedded
SmolLM2-135M: NF4 4-bit matmuls ran ~6x slower per step than fp32 (57 s vs 9.8 s for a 1k-token micro-batch), and a
135M model fits in RAM, so the CPU recipe trains the fp32 base with LoRA, 4 packed rows a step, a higher learning
rate.
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


# Packing (whole examples filling rows of max_length, one row per micro-batch) on both devices. A step then trains
# about as many examples as rows x (max_length / example length), so the step counts are smaller than unpacked.
# CPU, measured on the default model and the sample persona (README, "Packing"): CPU_PACKED_STEPS steps reach style
# >= 0.8 and stop >= 0.95 on the held-out probes. CUDA (not measured here: no GPU was lent): the source notes'
# 60 steps x 8 examples, as the same data amount in rows of 1024 tokens, 2 rows a step.
CPU_PACKED_STEPS = 24
CUDA_PACKED_STEPS = 40


def recipe(model: str = "default", device: str | None = None) -> TrainConfig:
    cfg = TrainConfig(model=model, template=PRESETS.get(model, "model"), replay_share=DEFAULT_REPLAY_SHARE,
                      replay_system="persona", packing=True)
    # one packed row per micro-batch: a padding-free batch is one row whose block-diagonal attention sdpa computes
    # in full, so several rows side by side would cost attention quadratic in all of them
    cfg.batch_size = 1
    if (device or detect_device()) == "cpu":
        cfg.load_in_4bit = False
        cfg.grad_accum = 4
        cfg.max_length = 512
        cfg.learning_rate = 1e-3
        cfg.warmup_steps = 3
        cfg.max_steps = CPU_PACKED_STEPS
    else:
        cfg.grad_accum = 2
        cfg.max_steps = CUDA_PACKED_STEPS
    return cfg
