"""Benchmark: GGUF export of the embedded default model per quant type: write time, file size, read-back time and
the largest relative logit difference against the safetensors model (the export's own verification measure).

    python -m bench.bench_export [--quants f16 bf16 q8_0 q4_0]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from studio.core.models import resolve
from studio.export.gguf_file import QUANTS, plan_gguf, write_gguf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quants", nargs="+", default=list(QUANTS), choices=QUANTS)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = Path(resolve("default"))
    tok = AutoTokenizer.from_pretrained(src)
    ref = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    ids = tok.apply_chat_template([{"role": "user", "content": "ごきげんよう。What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = ref(ids).logits
    print(f"{'quant':6} {'write s':>8} {'MB':>8} {'read s':>8} {'rel diff':>9} top1")
    with tempfile.TemporaryDirectory() as tmp:
        for q in args.quants:
            out = Path(tmp) / f"m-{q}.gguf"
            t = time.perf_counter()
            write_gguf(plan_gguf(src, q), out, tok.chat_template, "bench")
            written = time.perf_counter() - t
            t = time.perf_counter()
            model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=out.name, dtype=torch.float32).eval()
            read = time.perf_counter() - t
            with torch.no_grad():
                got = model(ids).logits
            rel = float((want - got).abs().max() / want.abs().max())
            top1 = float((want.argmax(-1) == got.argmax(-1)).float().mean())
            print(f"{q:6} {written:8.1f} {out.stat().st_size / 2**20:8.1f} {read:8.1f} {rel:9.4f} {top1:.2f}")
            out.unlink()


if __name__ == "__main__":
    main()
