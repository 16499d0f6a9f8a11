"""Write a merged model (Llama family, or Gemma 3) as a GGUF file with the gguf package: tensor names from gguf's own
name map, the tokenizer as llama.cpp reads it, special ids and the contract's chat template. Heavy imports stay
inside.

Gemma 3 as llama.cpp's converter writes it (convert_hf_to_gguf.py, Gemma3Model): RMSNorm weights stored as 1 + w
(llama.cpp multiplies by the weight itself), q/k not permuted (NEOX rope), the tied head not written, key/value
lengths and the sliding window in the metadata; llama.cpp fixes the layer pattern (every 6th layer global) and the
local rope base (10,000), so a config that differs is refused rather than exported wrong."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError

QUANTS = ("f16", "bf16", "q8_0", "q4_0")
ARCH = {"LlamaForCausalLM": "llama", "Gemma3ForCausalLM": "gemma3"}   # transformers class -> gguf architecture
SUPPORTED_ARCHS = tuple(ARCH)
GEMMA3_GLOBAL_EVERY, GEMMA3_LOCAL_BASE = 6, 10000.0
# Bytes per weight, for the disk check before anything is written (block formats include their scales).
BYTES_PER_WEIGHT = {"f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass
class GgufPlan:
    """What will be written: known before any work starts, so a bad request is refused early."""
    model_dir: Path
    quant: str
    config: dict
    n_params: int

    @property
    def arch(self) -> str:
        return ARCH[(self.config.get("architectures") or ["LlamaForCausalLM"])[0]]

    @property
    def estimated_bytes(self) -> int:
        return int(self.n_params * BYTES_PER_WEIGHT[self.quant]) + 64 * 2**20  # + vocabulary and metadata


def plan_gguf(model_dir: Path, quant: str) -> GgufPlan:
    """Refuse unsupported quant types and architectures before any work starts."""
    if quant not in QUANTS:
        raise StudioError("err.export.quant", quant=quant, quants=", ".join(QUANTS))
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StudioError("err.export.config", folder=model_dir, reason=e) from None
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in SUPPORTED_ARCHS:
        raise StudioError("err.export.arch", arch=arch, supported=", ".join(SUPPORTED_ARCHS))
    if ARCH[arch] == "gemma3":
        _check_gemma3(config)
    else:
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        if rope.get("rope_type", "default") not in ("default", "llama3"):
            raise StudioError("err.export.rope", rope=rope.get("rope_type"))
    h, layers, inter = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or h // heads
    per_layer = 2 * h * heads * head_dim + 2 * h * kv * head_dim + 3 * h * inter
    embed = config["vocab_size"] * h * (1 if config.get("tie_word_embeddings") else 2)
    return GgufPlan(model_dir, quant, config, per_layer * layers + embed)


def _check_gemma3(config: dict) -> None:
    """What llama.cpp's gemma3 graph assumes, checked against this config (refused, naming it, when it differs)."""
    n = config["num_hidden_layers"]
    want = ["full_attention" if (i + 1) % GEMMA3_GLOBAL_EVERY == 0 else "sliding_attention" for i in range(n)]
    if config.get("layer_types") and list(config["layer_types"]) != want:
        raise StudioError("err.export.gemma_layout", what=f"layer_types {config['layer_types']}")
    rope = config.get("rope_parameters") or {}
    local = (rope.get("sliding_attention") or {}) if isinstance(rope.get("sliding_attention"), dict) else {}
    if float(local.get("rope_theta", GEMMA3_LOCAL_BASE)) != GEMMA3_LOCAL_BASE or \
            local.get("rope_type", "default") != "default":
        raise StudioError("err.export.gemma_layout", what=f"local rope {local}")
    glob = (rope.get("full_attention") or {}) if isinstance(rope.get("full_attention"), dict) else {}
    if glob.get("rope_type", "default") not in ("default", "linear"):
        raise StudioError("err.export.rope", rope=glob.get("rope_type"))
    if config.get("query_pre_attn_scalar", 256) != (config.get("head_dim") or 256):   # llama.cpp: 1/sqrt(head_dim)
        raise StudioError("err.export.gemma_layout", what=f"query_pre_attn_scalar {config['query_pre_attn_scalar']}")
    if config.get("attn_logit_softcapping") or config.get("final_logit_softcapping"):
        raise StudioError("err.export.gemma_layout", what="logit soft-capping")


def _global_rope(config: dict) -> dict:
    rope = config.get("rope_parameters") or {}
    return rope.get("full_attention") if isinstance(rope.get("full_attention"), dict) else rope


def _permute(w, n_head: int):
    """q/k rows from Hugging Face's rotate-half order into the interleaved pairs GGUF's rope expects."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _rope_factors(config: dict):
    """Llama-3.1+ frequency scaling (rope_type 'llama3') as the per-dimension divisors llama.cpp reads."""
    import numpy as np
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type") != "llama3":
        return None
    dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    base = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    factor, low, high = rope["factor"], rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old = rope.get("original_max_position_embeddings", 8192)
    out = []
    for i in range(0, dim, 2):
        wavelen = 2 * math.pi * base ** (i / dim)
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _tensor_type(quant: str, name: str, shape: tuple[int, ...]):
    """1-D tensors stay F32 (llama.cpp computes norms in F32); block formats need rows divisible by 32; with
    q4_0 the embeddings and the output head keep Q8_0, as 4 bits there costs the most quality."""
    import gguf
    Q = gguf.GGMLQuantizationType
    if len(shape) < 2:
        return Q.F32
    if quant in ("q8_0", "q4_0") and shape[-1] % 32:
        return Q.F16
    if quant == "q4_0" and name in ("token_embd.weight", "output.weight"):
        return Q.Q8_0
    return {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[quant]


def _convert(array, qtype):
    import gguf
    import numpy as np
    Q = gguf.GGMLQuantizationType
    if qtype == Q.F32:
        return array.astype(np.float32)
    if qtype == Q.F16:
        return array.astype(np.float16)
    return gguf.quants.quantize(array.astype(np.float32), qtype)


def _tensors(plan: GgufPlan, shapes_only: bool = False):
    """(gguf name, float32 array) for every weight, read one at a time from the safetensors files; with
    shapes_only, (gguf name, shape) without reading any data."""
    import gguf
    import torch
    from safetensors import safe_open

    cfg = plan.config
    gemma = plan.arch == "gemma3"
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3 if gemma else gguf.MODEL_ARCH.LLAMA,
                                     cfg["num_hidden_layers"])
    kv = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    for file in sorted(plan.model_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                if key.endswith("rotary_emb.inv_freq") or (gemma and key == "lm_head.weight"):  # tied head
                    continue
                name = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if name is None:
                    raise StudioError("err.export.tensor", tensor=key)
                if shapes_only:
                    yield name, tuple(f.get_slice(key).get_shape())
                    continue
                w = f.get_tensor(key).to(torch.float32).numpy()
                if gemma:
                    if key.endswith("norm.weight"):
                        w = w + 1   # Gemma's RMSNorm scales by (1 + weight); llama.cpp's by the weight
                elif key.endswith("q_proj.weight"):
                    w = _permute(w, cfg["num_attention_heads"])
                elif key.endswith("k_proj.weight"):
                    w = _permute(w, kv)
                yield name, w
    factors = None if gemma else _rope_factors(cfg)
    if factors is not None:
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors.shape if shapes_only else factors


def write_gguf(plan: GgufPlan, out: Path, chat_template: str, name: str, eot_id: int | None = None,
               progress=lambda f: None) -> list[str]:
    """Header, metadata and tensor infos first, then the tensors one by one (never the whole model in memory)."""
    import gguf
    import numpy as np

    from studio.export.gguf_vocab import add_vocab

    cfg = plan.config
    w = gguf.GGUFWriter(str(out), plan.arch)
    w.add_name(name)
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads") or heads)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-6))
    if plan.arch == "gemma3":
        rope = _global_rope(cfg)
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
        w.add_sliding_window(cfg["sliding_window"])
        w.add_rope_freq_base(float(rope.get("rope_theta", 1_000_000.0)))
        if rope.get("rope_type") == "linear":   # applies to the global layers only, as in llama.cpp
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(float(rope["factor"]))
    else:
        rope = cfg.get("rope_parameters") or {}
        w.add_rope_dimension_count(head_dim)
        w.add_rope_freq_base(float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))))
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type({"f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[plan.quant])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    warnings = add_vocab(w, plan.model_dir, cfg["vocab_size"], chat_template, eot_id)

    F32, F16 = gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16
    infos = []
    for tname, shape in _tensors(plan, shapes_only=True):
        qtype = _tensor_type(plan.quant, tname, shape)
        if qtype in (F32, F16):
            dtype = np.dtype(np.float32 if qtype == F32 else np.float16)
            w.add_tensor_info(tname, shape, dtype, int(np.prod(shape)) * dtype.itemsize)
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(shape, qtype)
            w.add_tensor_info(tname, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=qtype)
        infos.append((tname, qtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for i, (tname, arr) in enumerate(_tensors(plan)):
        assert tname == infos[i][0]
        w.write_tensor_data(_convert(arr, infos[i][1]))
        progress((i + 1) / len(infos))
    w.close()
    return warnings
