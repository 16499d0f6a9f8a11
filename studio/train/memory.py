"""A rough memory estimate for a LoRA/QLoRA run, from the model's config.json. No torch import.

Weights: 4-bit NF4 linear layers ~0.53 byte/param (double quant), embeddings kept in 16/32-bit; activations after
Korthikanti et al. 2022 (~34 bytes per token per hidden unit per layer without checkpointing, ~2 with); logits
in fp32; LoRA weights, gradients and optimizer states; plus a fixed CUDA context. It is an estimate: the UI says so.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from studio.train.config import TrainConfig

PRESET_SHAPES = {  # hidden, layers, intermediate, vocab, kv_heads/heads, tied embeddings
    "elyza/ELYZA-japanese-Llama-2-7b-instruct": (4096, 32, 11008, 32000, 1.0, False),
    "stabilityai/japanese-stablelm-instruct-beta-7b": (4096, 32, 11008, 32000, 1.0, False),
    "lmsys/vicuna-7b-v1.5": (4096, 32, 11008, 32000, 1.0, False),
    "unsloth/Llama-3.2-1B-Instruct": (2048, 16, 8192, 128256, 0.25, True),
    "unsloth/Llama-3.2-3B-Instruct": (3072, 28, 8192, 128256, 0.333, True),
    "elyza/Llama-3-ELYZA-JP-8B": (4096, 32, 14336, 128256, 0.25, False),
}


@dataclass
class Estimate:
    total_gb: float
    parts: dict[str, float]
    available_gb: float | None
    device: str
    per_process: bool = False

    def summary(self, lang: str = "en") -> str:
        from studio.locale import tr
        parts = ", ".join(f"{tr(lang, 'mem.' + k)} {v:.2f}" for k, v in self.parts.items())
        head = tr(lang, "mem.head", device=self.device, total=f"{self.total_gb:.1f}", parts=parts)
        if self.per_process:
            head += tr(lang, "mem.per_process")
        if self.available_gb is None:
            return head + tr(lang, "mem.end")
        key = "mem.wont_fit" if self.total_gb > self.available_gb else "mem.available"
        return head + tr(lang, key, available=f"{self.available_gb:.1f}")


def model_shape(model_dir: str) -> tuple | None:
    if model_dir in PRESET_SHAPES:
        return PRESET_SHAPES[model_dir]
    cfg = Path(model_dir) / "config.json"
    if not cfg.exists():
        return None
    c = json.loads(cfg.read_text(encoding="utf-8"))
    heads = c.get("num_attention_heads", 1)
    return (c["hidden_size"], c["num_hidden_layers"], c.get("intermediate_size", 4 * c["hidden_size"]),
            c["vocab_size"], c.get("num_key_value_heads", heads) / heads, bool(c.get("tie_word_embeddings")))


def batch_tokens(cfg: TrainConfig, lengths: list[int] | None = None) -> int:
    """Tokens in the largest micro-batch one process sees. Packed rows are full (batch x max_length); a
    padding-free batch holds its examples end to end (the longest ones, at worst); a padded batch pads every
    example to its longest. Without the data's lengths: batch x max_length, the most it can be."""
    if cfg.packing or not lengths:
        return cfg.batch_size * cfg.max_length
    longest = sorted((min(n, cfg.max_length) for n in lengths), reverse=True)[:cfg.batch_size]
    return sum(longest) if cfg.padding_free else cfg.batch_size * longest[0]


def estimate(cfg: TrainConfig, model_dir: str, device: str = "cpu",
             available_gb: float | None = None, lengths: list[int] | None = None) -> Estimate | None:
    """Per process: with several, each holds its own copy (DDP, ZeRO-2 shares the optimizer state) or a share of
    the weights too (FSDP, ZeRO-3)."""
    shape = model_shape(model_dir)
    if shape is None:
        return None
    hidden, layers, inter, vocab, kv, tied = shape
    gb = 1024 ** 3
    half = 4 if device == "cpu" else 2  # fp32 on CPU, 16-bit on GPU
    linear = layers * (hidden * hidden * (2 + 2 * kv) + 3 * hidden * inter)
    embed = vocab * hidden * (1 if tied else 2)
    weights = linear * (0.53 if cfg.load_in_4bit else half) + embed * half
    per_layer_lora = cfg.lora_r * ((hidden + hidden) * 2 + (hidden + int(hidden * kv)) * 2 + 3 * (hidden + inter))
    lora = layers * per_layer_lora
    opt_bytes = 2 if "8bit" in cfg.optimizer else 8
    training_state = lora * (4 + 4 + opt_bytes)
    procs = max(1, cfg.num_processes)
    if procs > 1 and cfg.strategy in ("fsdp", "deepspeed-zero3"):
        weights, training_state = weights / procs, training_state / procs
    elif procs > 1 and cfg.strategy == "deepspeed-zero2":
        training_state = lora * 4 + lora * (4 + opt_bytes) / procs
    tokens = batch_tokens(cfg, lengths)
    act_per = 2 if cfg.gradient_checkpointing else 34
    activations = tokens * hidden * layers * act_per * (half / 2)
    logits = tokens * vocab * 4 * 2
    overhead = 0.6 * gb if device == "cuda" else 0.3 * gb
    parts = {"weights": weights / gb, "LoRA+optimizer": training_state / gb, "activations": activations / gb,
             "logits": logits / gb, "runtime": overhead / gb}
    return Estimate(sum(parts.values()), parts, available_gb, device, per_process=procs > 1)


def available_memory() -> tuple[str, float | None]:
    """('cuda', free GB) when a GPU is visible, else ('cpu', available RAM GB). Imports torch only for CUDA."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) != "":
        try:
            import torch
            if torch.cuda.is_available():
                free, _ = torch.cuda.mem_get_info()
                return "cuda", free / 1024 ** 3
        except Exception:  # noqa: BLE001 - no usable GPU: fall through to RAM
            pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return "cpu", int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return "cpu", None


@lru_cache(maxsize=2)
def _tokenizer(path: str, mtime_ns: int):
    """Read once per file version: Gemma's 33 MB tokenizer.json takes ~1.3 s, and the estimate follows every edit
    (read-only afterwards, so sharing it between sessions shares no state)."""
    from tokenizers import Tokenizer
    return Tokenizer.from_file(path)


def approx_lengths(persona, model_dir: str) -> list[int] | None:
    """The persona's examples in tokens, roughly (the model's own tokenizer.json, 8 tokens per message for the
    template's markers): quick enough to follow every edit in the Train tab. None without a local tokenizer."""
    f = Path(model_dir) / "tokenizer.json"
    if not f.is_file():
        return None
    from studio.data.conversations import conversations_from_persona
    try:
        tok = _tokenizer(str(f), f.stat().st_mtime_ns)
    except Exception:  # noqa: BLE001 - an unreadable tokenizer only costs the estimate its precision
        return None
    convs = conversations_from_persona(persona)
    texts = [c.system for c in convs] + [t for c in convs for turn in c.turns for t in turn]
    counts = iter(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    systems = [next(counts) for _ in convs]
    return [s + 8 * (1 + 2 * len(c.turns)) + sum(next(counts) for _ in range(2 * len(c.turns)))
            for s, c in zip(systems, convs)]
