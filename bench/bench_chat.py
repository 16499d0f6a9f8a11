"""Benchmark: side-by-side chat. Both panes (base and tuned) decoded together from one base model with the
adapter switched per row, vs the two answers generated one after the other; and resident memory of one base +
adapter vs two separate model copies.

    python -m bench.bench_chat [--model default] [--new-tokens 64]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_adapter(base: str, out: Path) -> Path:
    """A random (non-zero) LoRA adapter + contract: enough to measure switching costs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.serve.chat import default_contract
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=16, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"], init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    c = default_contract(tok, base)
    c.stop_token_ids = [-1]  # never stop early: both panes generate exactly --new-tokens
    c.save(out)
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(mode: str, base: str, adapter: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    if mode == "switching":
        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter)
    else:
        a = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        b = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                                      adapter).merge_and_unload()
        assert a is not b
    print(json.dumps({"rss_mb": rss_mb()}))


def timing(base: str, adapter: str, new_tokens: int) -> dict:
    from studio.serve.chat import ChatEngine, GenSettings, Row
    engine = ChatEngine(base)
    contract = engine.add_adapter("tuned", adapter)
    settings = GenSettings(max_new_tokens=new_tokens)
    question = "ごきげんよう。今日は何をしていたの？"
    rows = [Row(None, contract, [], question), Row("tuned", contract, [], question)]
    engine.generate(rows, GenSettings(max_new_tokens=2))  # warm-up
    t = time.perf_counter()
    first = None
    for out in engine.stream(rows, settings):
        if first is None and isinstance(out[0], str):
            first = time.perf_counter() - t
    both = time.perf_counter() - t
    t = time.perf_counter()
    seq_first = []
    for row in rows:
        t0 = time.perf_counter()
        got = None
        for _out in engine.stream([row], settings):
            if got is None:
                got = time.perf_counter() - t0
        seq_first.append(got)
    sequential = time.perf_counter() - t
    return {"together_s": both, "together_ttft_s": first, "sequential_s": sequential,
            "sequential_ttft_s": seq_first, "tokens_per_pane": new_tokens}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--memory", choices=["switching", "copies"])
    p.add_argument("--base")
    p.add_argument("--adapter")
    args = p.parse_args()
    if args.memory:
        memory(args.memory, args.base, args.adapter)
        return
    from studio.core.models import resolve
    base = resolve(args.model)
    adapter = str(make_adapter(base, Path(tempfile.mkdtemp(prefix="bench-adapter-"))))
    mem = {}
    for mode in ("switching", "copies"):
        out = subprocess.run([sys.executable, "-m", "bench.bench_chat", "--memory", mode, "--base", base, "--adapter",
                              adapter], capture_output=True, text=True, check=True, cwd=ROOT)
        mem[mode] = json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"]
    r = timing(base, adapter, args.new_tokens)
    n = r["tokens_per_pane"]
    print(f"both panes together : {r['together_s']:.2f} s, first token after {r['together_ttft_s']:.3f} s, "
          f"{n / r['together_s']:.1f} tokens/s per pane")
    print(f"one after the other : {r['sequential_s']:.2f} s, first tokens after "
          f"{r['sequential_ttft_s'][0]:.3f} s and {r['sequential_ttft_s'][1]:.3f} s (from each start)")
    print(f"ratio sequential/together time: {r['sequential_s'] / r['together_s']:.2f} (>1: side by side is faster)")
    print(f"resident memory: one base + adapter switching {mem['switching']:.0f} MB, two copies "
          f"{mem['copies']:.0f} MB, ratio {mem['switching'] / mem['copies']:.2f}")


if __name__ == "__main__":
    main()
