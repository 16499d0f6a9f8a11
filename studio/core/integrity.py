"""Cheap checks that files written by training are whole, without importing torch.

A run killed while saving, or a disk that filled up, leaves truncated files. Loading them fails deep inside
torch/safetensors with messages users cannot act on; these checks name the file and the problem first.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

ADAPTER_WEIGHTS = "adapter_model.safetensors"
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
        json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "adapter_config.json is missing"
    except (OSError, ValueError) as e:
        return f"adapter_config.json cannot be read ({type(e).__name__})"
    return safetensors_problem(folder / ADAPTER_WEIGHTS)


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
