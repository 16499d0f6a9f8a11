"""Model sources: a local folder, a hub id (online only), or an embedded model by name (`default`: Gemma 3 270M;
`smollm2`: SmolLM2-135M-Instruct; see studio.core.embedded_models).

Loading never runs remote code unless the caller passes trust_remote_code=True (an explicit, warned option).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from studio.core.errors import StudioError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PRESETS = {  # GPU presets from the source notes, with the template each was trained with
    "elyza/ELYZA-japanese-Llama-2-7b-instruct": "llama2",
    "stabilityai/japanese-stablelm-instruct-beta-7b": "llama2",
    "lmsys/vicuna-7b-v1.5": "llama2",
    "unsloth/Llama-3.2-1B-Instruct": "llama3",
    "unsloth/Llama-3.2-3B-Instruct": "llama3",
    "elyza/Llama-3-ELYZA-JP-8B": "llama3",
    # Gemma 3 instruction models speak Japanese well; their <end_of_turn> is trained (unlike the 270M base). Not run
    # here (no hub, no GPU). 4B and 12B load as the image-text class: LoRA's q/k/v/o targets also reach the vision
    # tower's attention, and GGUF export refuses that class (the merged folder serves with transformers and vLLM).
    "google/gemma-3-1b-it": "gemma",
    "google/gemma-3-4b-it": "gemma",
    "google/gemma-3-12b-it": "gemma",
}


def model_choices() -> list[str]:
    """What the model pickers offer first: the embedded models by name, then the GPU presets."""
    from studio.core.embedded_models import DEFAULT, EMBEDDED
    return ["default", *[n for n in EMBEDDED if n != DEFAULT], *PRESETS]


def cache_dir() -> Path:
    return Path(os.environ.get("STUDIO_CACHE", Path.home() / ".cache" / "persona-studio")).expanduser()


def default_model_dir(name: str = "default") -> Path:
    """Where the embedded model `name` is (or will be) prepared."""
    from studio.core.embedded_models import embedded
    spec = embedded(name)
    if spec is None:
        raise StudioError("err.model.unknown_embedded", name=name)
    return cache_dir() / "models" / spec.folder


def resolve(source: str) -> str:
    """A path or hub id that transformers can load; `default` must have been prepared."""
    source = (source or "").strip()
    if not source:
        raise StudioError("err.model.none_given")
    from studio.core.embedded_models import NAMES
    if source in NAMES:
        d = default_model_dir(source)
        if not (d / "config.json").exists():
            raise StudioError("err.model.not_prepared", name=source)
        return str(d)
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise StudioError("err.model.is_file", source=source)
        return str(path)
    if HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        return source
    raise StudioError("err.model.not_found", source=source)


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt, so an offline machine gets a clear message instead of minutes of retries."""
    import socket
    from urllib.parse import urlparse

    if _is_offline():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _check_hub(source: str, where: str) -> None:
    """Raise the offline message for a hub id that is neither cached nor reachable."""
    if Path(where).exists():
        return
    if not hub_reachable():
        try:
            from huggingface_hub import snapshot_download
            snapshot_download(where, local_files_only=True)  # already in the local cache: fine offline
        except Exception:
            raise _hub_error(source, OSError("offline")) from None


def _hub_error(source: str, err: Exception) -> StudioError:
    if _is_offline() or "offline" in str(err).lower() or "connect" in str(err).lower() \
            or "resolve" in str(err).lower():
        return StudioError("err.model.offline", source=source)
    return StudioError("err.model.hub_failed", source=source, str=str(err).splitlines()[0])


def load_tokenizer(source: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    where = resolve(source)
    is_local = Path(where).exists()
    _check_hub(source, where)
    try:
        tok = AutoTokenizer.from_pretrained(where, trust_remote_code=trust_remote_code,
                                            local_files_only=not is_local and not hub_reachable())
    except (OSError, ValueError) as e:
        if not is_local:
            raise _hub_error(source, e) from None
        raise StudioError("err.model.no_tokenizer", where=where, str=str(e).splitlines()[0][:200]) from None
    except Exception as e:  # remote-code refusal and other loader errors
        raise StudioError("err.model.tokenizer_failed", where=where, str=str(e).splitlines()[0][:200]) from None
    if not getattr(tok, "is_fast", False):
        raise StudioError("err.model.slow_tokenizer", where=where)
    return seal_added_tokens(tok)


# Added tokens that are control markers although the vocabulary does not flag them special: snake_case names in
# angle brackets (<start_of_image>) or square brackets ([multimodal]). Other unflagged added tokens are meant to match
# text and stay as they are: Gemma 3 adds runs of whitespace and HTML tags (<table>, </s>, <b>) that way.
CONTROL_LIKE = re.compile(r"<[a-z]+(?:_[a-z0-9]+)+>|\[[a-z_]+\]")


def seal_added_tokens(tok):
    """Mark the control-like added tokens special, so typed text never becomes their id. Some vocabularies add
    control tokens without the flag (Gemma 3's <start_of_image>, <end_of_image>): the tokenizer then matches them
    inside any text, and split_special_tokens (how the renderer keeps text as text) does not apply. Ids do not
    change."""
    from tokenizers import AddedToken
    loose = [t for t in getattr(tok, "added_tokens_decoder", {}).values()
             if not t.special and CONTROL_LIKE.fullmatch(t.content)]
    if loose:
        tok.add_tokens([AddedToken(t.content, special=True, normalized=False, lstrip=t.lstrip, rstrip=t.rstrip,
                                   single_word=t.single_word) for t in loose], special_tokens=True)
    return tok


def local_folder(source: str) -> Path | None:
    """The folder a model source names on this machine, or None (a hub id, or nothing prepared)."""
    try:
        where = Path(resolve(source))
    except StudioError:
        return None
    return where if where.is_dir() else None


def generation_eos_ids(source: str) -> list[int] | None:
    """eos_token_id from a local model's generation_config.json (or config.json), when present."""
    where = local_folder(source)
    if where is None:
        return None
    for name in ("generation_config.json", "config.json"):
        f = where / name
        if f.exists():
            try:
                eos = json.loads(f.read_text(encoding="utf-8")).get("eos_token_id")
            except (OSError, ValueError):
                continue
            if eos is not None:
                return list(eos) if isinstance(eos, list) else [int(eos)]
    return None


def device() -> str:
    """Where models run: the GPU when there is one, else the CPU."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype_name(where: str | None = None) -> str:
    """The dtype models are loaded in for inference and merging: bf16 on a GPU, fp32 on the CPU (bf16 on a CPU is
    ~12x slower)."""
    return "bf16" if (where or device()) == "cuda" else "fp32"


def load_model(where: str | Path, dtype: str = "auto", on: str | None = None, trust_remote_code: bool = False,
               train: bool = False, move: bool = True, **kwargs):
    """The one place a causal LM is loaded: device and dtype decided here (auto: bf16 on a GPU, fp32 on the CPU),
    moved to the device unless a device_map places it (or the trainer does: move=False), and in eval mode unless it
    is to be trained. Other keywords (quantization_config, gguf_file, attn_implementation) go to transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    target = on or device()
    name = dtype_name(target) if dtype == "auto" else dtype
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, trust_remote_code=trust_remote_code,
                                                 **kwargs)
    if move and "device_map" not in kwargs:
        model = model.to(target)
    return model if train else model.eval()
