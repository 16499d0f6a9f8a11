"""The tokenizer written into a GGUF the way llama.cpp reads it: byte-level BPE as 'gpt2' (tokens, types, merges,
pre-tokenizer name) or byte-fallback BPE as 'llama' (tokens, scores, types, merges), plus special ids, add_bos and
the chat template. Heavy imports stay inside."""
from __future__ import annotations

import json
import re
from pathlib import Path

from studio.core.errors import StudioError

# The split rule of Llama-3's tokenizer (as in its tokenizer.json); llama.cpp calls this pre-tokenizer 'llama-bpe'.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenizer_kind(tj: dict) -> str:
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise StudioError("err.export.tokenizer", kind=model.get("type", "?"))
    return "llama" if model.get("byte_fallback") else "gpt2"


def pre_tokenizer_name(tj: dict) -> str | None:
    """llama.cpp's name for this byte-level split rule, or None when we cannot tell (then llama.cpp falls back
    to its default split, which may tokenize some text differently: the report says so)."""
    pre = tj.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    parts = pre.get("pretokenizers") or []
    if pre.get("type") == "Sequence" and len(parts) == 2 and parts[0].get("type") == "Split" \
            and (parts[0].get("pattern") or {}).get("Regex") == LLAMA3_SPLIT and parts[1].get("type") == "ByteLevel":
        return "llama-bpe"
    return None


def _merges(tj: dict) -> list[str]:
    return [m if isinstance(m, str) else " ".join(m) for m in (tj.get("model") or {}).get("merges", [])]


def vocab_tables(tok, tj: dict, vocab_size: int) -> tuple[list[str], list[int], list[float]]:
    """Tokens, llama.cpp token types and scores, one per model row (rows the tokenizer lacks become unused)."""
    import gguf
    TT = gguf.TokenType
    byte_fallback = tokenizer_kind(tj) == "llama"
    reverse = {i: t for t, i in tok.get_vocab().items()}
    added = tok.added_tokens_decoder
    rank = {m.replace(" ", ""): n for n, m in reversed(list(enumerate(_merges(tj))))}
    tokens, types, scores = [], [], []
    for i in range(vocab_size):
        t = reverse.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(TT.UNUSED)
        elif i in added:
            tokens.append(t)
            types.append(TT.CONTROL if added[i].special else TT.USER_DEFINED)
        elif byte_fallback and re.fullmatch(r"<0x[0-9A-F]{2}>", t):
            tokens.append(t)
            types.append(TT.BYTE)
        elif t == tok.unk_token:
            tokens.append(t)
            types.append(TT.UNKNOWN)
        else:
            tokens.append(t)
            types.append(TT.NORMAL)
        scores.append(-float(rank.get(t, 0)) if types[-1] == TT.NORMAL else 0.0)
    return tokens, [int(x) for x in types], scores


def adds_bos(tok) -> bool:
    ids = tok("a")["input_ids"]
    return tok.bos_token_id is not None and bool(ids) and ids[0] == tok.bos_token_id


def add_vocab(w, model_dir: Path, vocab_size: int, chat_template: str, eot_id: int | None = None) -> list[str]:
    """Write the tokenizer into the writer `w`; returns warnings (plain English, for the export log)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    try:
        tj = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StudioError("err.export.no_tokenizer_json", folder=model_dir, reason=e) from None
    kind = tokenizer_kind(tj)
    tokens, types, scores = vocab_tables(tok, tj, vocab_size)
    warnings = []
    w.add_tokenizer_model(kind)
    if kind == "gpt2":
        pre = pre_tokenizer_name(tj)
        if pre is None:
            warnings.append("unknown pre-tokenizer: llama.cpp will use its default split")
        w.add_tokenizer_pre(pre or "default")
    else:
        w.add_tokenizer_pre("default")
        meta = tj.get("pre_tokenizer") or {}
        w.add_add_space_prefix(meta.get("type") == "Metaspace" and meta.get("prepend_scheme", "always") != "never")
        w.add_token_scores(scores)
    w.add_token_list(tokens)
    w.add_token_types(types)
    merges = _merges(tj)
    if merges:
        w.add_token_merges(merges)
    for setter, value in ((w.add_bos_token_id, tok.bos_token_id), (w.add_eos_token_id, tok.eos_token_id),
                          (w.add_unk_token_id, tok.unk_token_id), (w.add_pad_token_id, tok.pad_token_id),
                          (w.add_eot_token_id, eot_id)):
        if value is not None:
            setter(int(value))
    w.add_add_bos_token(adds_bos(tok))
    w.add_add_eos_token(False)
    w.add_chat_template(chat_template)
    return warnings
