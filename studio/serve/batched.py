"""Offline generation — evaluation, replay, drafting, candidates for preference pairs, multi-turn answers — many rows
in one call: each prompt made once, the rows sorted by prompt length (little left padding) and cut into batches
bounded in rows and in tokens, k samples of a prompt decoded side by side, no text decoded before a row is finished.

On a CPU a decoding step reads every weight once whatever the batch holds (the default model's 262,144-way output
layer alone is 671 MB in float32; measured, it takes 108 ms for 8 rows, 203 ms for 40 and 195 ms for 80), so bigger
batches are most of the gain (bench/bench_generate.py)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from studio.serve.chat import ChatEngine, GenSettings, Reply, Row, RowEnds, generation_error


@dataclass(frozen=True)
class Batching:
    rows: int = 96            # rows decoded together (the default model's output layer: 80 rows a step cost what 40 do)
    tokens: int = 48 * 1024   # rows x (longest prompt + new tokens) in one batch: bounds the cache and its attention
    merge: bool = True        # one adapter's rows decode with it folded into the weights (ChatEngine.only)


def batches(lengths: list[int], new_tokens: int, limits: Batching = Batching()) -> list[list[int]]:
    """The rows' indices, shortest prompt first, cut into batches of at most `limits.rows` rows whose padded size
    (rows x (longest prompt + new tokens)) stays within `limits.tokens`; a row too long for that alone gets its own."""
    out: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        cur = out[-1] if out else None
        if cur is not None and len(cur) < limits.rows and \
                (len(cur) + 1) * (lengths[i] + new_tokens) <= limits.tokens:   # sorted: this row is the longest
            cur.append(i)
        else:
            out.append([i])
    return out


Done = Callable[[list[int], list[Reply]], bool | None]   # (row indices, their replies) -> True to stop here


def generate_many(engine: ChatEngine, rows: list[Row], settings: GenSettings, samples: int = 1,
                  limits: Batching = Batching(), on_batch: Done | None = None,
                  cancel: threading.Event | None = None) -> list[list[Reply]]:
    """`samples` replies to every row (greedy rows are decoded once and repeated: they would all be equal). After
    each batch `on_batch(indices, replies)` is called (an index per reply, repeated per sample): to save, report
    progress or stop (it returns True; the rows not reached keep no replies)."""
    engine.check_rows(rows)
    k = samples if settings.temperature > 0 else 1
    prompts = [engine.prompt_ids(r, settings.max_new_tokens) for r in rows]
    items = [i for i in range(len(rows)) for _ in range(k)]
    out: list[list[Reply]] = [[] for _ in rows]
    n = 0
    for adapter in dict.fromkeys(rows[i].adapter for i in items):   # one model at a time (see ChatEngine.only)
        group = [i for i in items if rows[i].adapter == adapter]
        for batch in batches([len(prompts[i][0]) for i in group], settings.max_new_tokens, limits):
            idx = [group[j] for j in batch]
            chunk = [rows[i] for i in idx]
            replies = _decode(engine, chunk, [prompts[i][0] for i in idx], [prompts[i][1] for i in idx], settings,
                              settings.seed + n, limits.merge, cancel)
            n += 1
            for i, r in zip(idx, replies):
                out[i] += [r] * (samples if k == 1 else 1)
            if on_batch is not None and on_batch(idx, replies):
                return out
            if cancel is not None and cancel.is_set():
                return out
    return out


def _decode(engine: ChatEngine, chunk: list[Row], prompts: list[list[int]], cut: list[bool], settings: GenSettings,
            seed: int, merge: bool, cancel: threading.Event | None) -> list[Reply]:
    """One batch of one model's rows through model.generate, with the engine's lock held."""
    import torch
    with engine.lock:
        torch.manual_seed(seed)
        try:
            if engine.model is None:
                from studio.core.errors import StudioError
                raise StudioError("err.chat.released")
            with engine.only(chunk[0].adapter, merge) as single, torch.no_grad():
                kwargs = engine.generate_kwargs(chunk, prompts, settings, cancel, routed=not single)
                width = kwargs["input_ids"].shape[1]
                ids = engine.model.generate(**kwargs)[:, width:].tolist()
        except Exception as e:  # noqa: BLE001 - said in the studio's words
            raise generation_error(e) from None
    ends = RowEnds(engine.tokenizer, chunk)
    for step in zip(*ids):
        ends.add(list(step))
    return ends.replies(cut)


def answer_all(engine: ChatEngine, rows: list[Row], settings: GenSettings, limits: Batching = Batching(),
               on_batch: Done | None = None, cancel: threading.Event | None = None) -> list[Reply | None]:
    """One reply per row (None for rows not reached when `on_batch` stopped early). `cancel` (anything with
    is_set()) ends the batch in flight at its next token."""
    got = generate_many(engine, rows, settings, 1, limits, on_batch, cancel)
    return [r[0] if r else None for r in got]
