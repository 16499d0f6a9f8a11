"""Cheap checks that files written by training are whole, without importing torch.

A run killed while saving, or a disk that filled up, leaves truncated files. Loading them fails deep inside
torch/safetensors with messages users cannot act on; these checks name the file and the problem first.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
TORCH_PICKLES = ("optimizer.pt", "scheduler.pt", "rng_state.pth")


def safetensors_problem(path: Path) -> str | None:
    """None when the file's header parses and its tensors fill the file exactly, else what is wrong."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is shorter than a safetensors header (truncated)"
            n = int.from_bytes(head, "little")
            if n > size - 8:
                return f"{path.name}'s header runs past the end of the file (truncated)"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return f"{path.name} cannot be read ({type(e).__name__})"
    if 8 + n + end != size:
        return f"{path.name} holds {size} bytes but its header describes {8 + n + end} (truncated)"
    return None


def adapter_problem(folder: Path) -> str | None:
    """None when a LoRA adapter folder has a readable config and whole weights."""
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "adapter_config.json is missing"
    except (OSError, ValueError, RecursionError) as e:
        return f"adapter_config.json cannot be read ({type(e).__name__})"
    return adapter_config_problem(config) or safetensors_problem(folder / ADAPTER_WEIGHTS) \
        or _rank_problem(folder / ADAPTER_WEIGHTS, config["r"])


MAX_RANK = 1024   # far above any LoRA people train; a config asking for millions would allocate gigabytes first


def adapter_config_problem(config) -> str | None:
    """What makes a LoRA config unusable before peft builds anything from it (a hostile or broken file)."""
    if not isinstance(config, dict):
        return "adapter_config.json is not a mapping"
    if config.get("peft_type") not in (None, "LORA"):
        return f"peft_type {config.get('peft_type')!r} is not LoRA"
    r = config.get("r")
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= MAX_RANK:
        return f"its rank r={r!r} is not a whole number from 1 to {MAX_RANK}"
    alpha = config.get("lora_alpha", r)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1e6:
        return f"lora_alpha={alpha!r} is not a positive number"
    targets = config.get("target_modules")   # absent: peft's default layers for the architecture
    if targets is not None and (not targets or not (isinstance(targets, str) or isinstance(targets, list)
                                                    and all(isinstance(x, str) and x for x in targets))):
        return f"target_modules={targets!r} names no layers"
    return None


def _rank_problem(weights: Path, r: int) -> str | None:
    """Every lora_A is r rows and every lora_B r columns, as the config says."""
    try:
        with weights.open("rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    except (OSError, ValueError):
        return f"{weights.name} cannot be read"
    for name, meta in header.items():
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if not isinstance(shape, list) or len(shape) != 2:
            continue
        if (".lora_A." in name and shape[0] != r) or (".lora_B." in name and shape[1] != r):
            return f"{name} has shape {shape}, not rank {r} as adapter_config.json says"
    return None


def adapter_targets_problem(model, config_path: Path) -> str | None:
    """The layers the adapter names exist in this model (a wrong base, or a made-up config)."""
    try:
        targets = json.loads(config_path.read_text(encoding="utf-8")).get("target_modules")
    except (OSError, ValueError, AttributeError):
        return "adapter_config.json cannot be read"
    wanted = {targets} if isinstance(targets, str) else set(targets or [])
    present = {n.split(".")[-1] for n, _ in model.named_modules()}
    missing = sorted(t for t in wanted if t not in present and not any(t in n for n in present))
    return f"the model has no layers named {', '.join(missing)}" if missing else None


def checkpoint_problem(ckpt: Path) -> str | None:
    """None when a trainer checkpoint can be resumed from: its state, adapter and optimizer files are whole."""
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict) or "global_step" not in state:
            return "trainer_state.json has no global_step"
    except FileNotFoundError:
        return "trainer_state.json is missing (the save did not finish)"
    except (OSError, ValueError) as e:
        return f"trainer_state.json cannot be read ({type(e).__name__})"
    problem = adapter_problem(ckpt)
    if problem:
        return problem
    for name in TORCH_PICKLES:
        p = ckpt / name
        if p.exists() and not zipfile.is_zipfile(p):  # torch.save writes a zip; a cut one has no end record
            return f"{name} is damaged (truncated)"
    return None
