"""Benchmark: offline generation on one model — the batched path every offline use takes (studio/serve/batched.py)
against the path before it (chunks of 8 through the chat engine's stream, as evaluation, replay and drafting did),
the chat engine answering one row (what a chat pane waits for), llama.cpp on the same model where
llama-cpp-python is installed (with `--gguf F`), and the hardware's limit (the model's multiply-adds per token at
this machine's measured matrix-multiply rate, weights read once per step for the whole batch).

Every row gets exactly `--new-tokens` tokens (a random LoRA adapter on, stop ids that never occur), greedy, so each
mode does the same work; modes alternate `--repeat` times, medians printed.

    python -m bench.bench_generate                      # default model, 40 prompts x 48 new tokens
    python -m bench.bench_generate --model smollm2 --prompts 80
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prompts(n: int) -> list[str]:
    """n questions: the sample persona's probes, then the free-form ones (as an evaluation asks them)."""
    from studio.eval import freeform
    from studio.eval.evaluate import EVAL_DATA
    from studio.eval.prompts import read_prompts
    out = [p.question for p in read_prompts(ROOT / "data" / "personas" / "ayano" / "probe.txt")]
    out += [item.question for item in freeform.read_freeform(EVAL_DATA / freeform.FREEFORM_FILE)]
    return (out * (n // max(len(out), 1) + 1))[:n]


def matmul_gflops() -> float:
    import torch
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9


def macs_per_token(model) -> int:
    """Multiply-adds of one decoded token: every linear weight once (the output layer included, tied or not), the
    input embedding being a lookup."""
    import torch
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--prompts", type=int, default=40)
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--gguf", help="a GGUF of the same model, for llama.cpp (llama-cpp-python)")
    args = p.parse_args()
    import torch

    from bench.bench_chat import make_adapter
    from studio.core.models import resolve
    from studio.serve.batched import Batching, answer_all
    from studio.serve.chat import ChatEngine, GenSettings, Row
    base = resolve(args.model)
    adapter = make_adapter(base, Path(tempfile.mkdtemp(prefix="bench-gen-")) / "adapter")
    engine = ChatEngine(base)
    contract = engine.add_adapter("tuned", adapter)
    settings = GenSettings(max_new_tokens=args.new_tokens)
    qs = prompts(args.prompts)
    rows = [Row("tuned", contract, [], q) for q in qs]
    both = [Row(None, contract, [], q) for q in qs] + rows   # an evaluation: the base and the tuned model

    def before(rows: list[Row]) -> int:
        return sum(r.new_tokens for i in range(0, len(rows), 8) for r in engine.generate(rows[i:i + 8], settings))

    def batched(rows: list[Row], merge: bool = True) -> int:
        return sum(r.new_tokens for r in answer_all(engine, rows, settings, Batching(merge=merge)))

    modes = {"before: chunks of 8 (stream)": lambda: before(rows), "batched (one call)": lambda: batched(rows),
             "batched, adapter routed per row": lambda: batched(rows, merge=False),
             "both models, before": lambda: before(both), "both models, batched": lambda: batched(both),
             "chat engine, one row": lambda: before(rows[:1])}
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    tokens: dict[str, int] = {}
    for i in range(args.repeat):
        for name in (list(modes) if i % 2 == 0 else list(modes)[::-1]):
            t = time.perf_counter()
            tokens[name] = modes[name]()
            seconds[name].append(time.perf_counter() - t)
            print(f"  run {i + 1} {name:30} {tokens[name] / seconds[name][-1]:7.1f} tokens/s", flush=True)
    rate = matmul_gflops()
    per_token = macs_per_token(engine.model.get_base_model())
    print(f"\n{args.model}: {len(rows)} prompts x {args.new_tokens} new tokens, greedy, {torch.get_num_threads()} "
          f"threads, {'CUDA' if torch.cuda.is_available() else 'CPU'}; medians of {args.repeat}")
    print("| mode | tokens | seconds | tokens/s | x before |")
    print("| --- | --- | --- | --- | --- |")
    ref = tokens[next(iter(modes))] / statistics.median(seconds[next(iter(modes))])
    for name in modes:
        tps = tokens[name] / statistics.median(seconds[name])
        label = name
        if name == "both models, batched":
            before_both = tokens["both models, before"] / statistics.median(seconds["both models, before"])
            label += f" ({tps / before_both:.2f}x both models, before)"
        print(f"| {label} | {tokens[name]} | {statistics.median(seconds[name]):.1f} | {tps:.1f} | {tps / ref:.2f}x |")
    print(f"| limit: {per_token / 1e6:.0f}M multiply-adds a token at {rate:.0f} GFLOP/s (matmul 2048^3) | | | "
          f"{rate * 1e9 / (2 * per_token):.0f} | |")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("| llama.cpp | llama-cpp-python is not installed here: not measured | | | |")
        return
    if not args.gguf:
        print("| llama.cpp | give --gguf (a GGUF of the same model, e.g. from `studio export`) | | | |")
        return
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=1024, n_threads=torch.get_num_threads(), verbose=False)
    t, n = time.perf_counter(), 0
    for q in qs[:8]:
        out = llm.create_completion(q, max_tokens=args.new_tokens, temperature=0.0)
        n += out["usage"]["completion_tokens"]
    dt = time.perf_counter() - t
    print(f"| llama.cpp, one prompt at a time (8 prompts) | {n} | {dt:.1f} | {n / dt:.1f} | {n / dt / ref:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
