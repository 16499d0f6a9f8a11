"""Which token embeddings look untrained, read from a local model's safetensors (no model is built).

An untrained token's input row was left at its initial value, shared (to rounding) with the other tokens nobody
trained: Gemma 3 270M base's <end_of_turn> has 6,022 rows at cosine >= 0.98 (its <unused…> rows), a trained token
such as <eos> or ですわ none. A tuned model whose stop token is such a row, with a tied and frozen head, cannot learn
to emit it: replies run on. Measured on that checkpoint (NOTES) and on SmolLM2-135M-Instruct (below).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SIMILAR = 0.98   # cosine at which two embedding rows are the same row, give or take rounding
# A row with this many such twins (and this share of the vocabulary) was never trained. The share is what tells
# a trained model's cluster of special tokens from a crowd of unused rows: SmolLM2-135M-Instruct's <|im_end|>, which
# it emits reliably, has 28 twins of 49,152 rows (0.06%); Gemma 3 270M base's <end_of_turn> 6,021 of 262,144 (2.3%).
CROWD = 16
CROWD_SHARE = 0.001


def untrained_token_ids(folder: str | Path | None, ids: list[int]) -> list[int]:
    """The ids among `ids` whose input-embedding row looks untrained; [] when the weights cannot be read here (a
    hub id, another format) — the check is a help, never a reason to refuse."""
    if not folder or not ids:
        return []
    where = Path(folder)
    files = sorted(where.glob("*.safetensors")) if where.is_dir() else []
    if not files:
        return []
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return list(_untrained(str(where), stamp, tuple(sorted(set(i for i in ids if i is not None)))))


def _embedding_key(folder: Path) -> tuple[str, str] | None:
    index = folder / "model.safetensors.index.json"
    names = json.loads(index.read_text(encoding="utf-8"))["weight_map"] if index.exists() else None
    if names is None:
        from safetensors import safe_open
        for f in sorted(folder.glob("*.safetensors")):
            with safe_open(str(f), framework="pt") as st:
                names = {k: f.name for k in st.keys()}
            key = next((k for k in names if k.endswith("embed_tokens.weight")), None)
            if key:
                return key, names[key]
        return None
    key = next((k for k in names if k.endswith("embed_tokens.weight")), None)
    return (key, names[key]) if key else None


@lru_cache(maxsize=8)
def _untrained(folder: str, stamp: tuple, ids: tuple[int, ...]) -> tuple[int, ...]:
    import torch
    from safetensors import safe_open
    found = _embedding_key(Path(folder))
    if found is None:
        return ()
    key, file = found
    with safe_open(str(Path(folder) / file), framework="pt") as st:
        rows = torch.nn.functional.normalize(st.get_tensor(key).float(), dim=1)
    out, crowd = [], max(CROWD, CROWD_SHARE * rows.shape[0])
    for i in ids:
        if 0 <= i < rows.shape[0] and int((rows @ rows[i] >= SIMILAR).sum()) - 1 >= crowd:
            out.append(i)
    return tuple(out)
