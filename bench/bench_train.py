"""Benchmark: our runner vs a plain trl+peft script, same model, data and settings, one after the other.

Prints trained (non-pad) tokens per second and peak memory for both, and their ratio (ours / plain).

    python -m bench.bench_train                          # embedded default model, CPU recipe, 10 steps
    python -m bench.bench_train --model llama3-1b-shape --four-bit --steps 20   # GPU: random Llama-3.2-1B shape
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"


def llama3_1b_shape(folder: Path) -> str:
    """A random model with Llama-3.2-1B's shape (throughput only) and a small Llama-3-style tokenizer."""
    if (folder / "config.json").exists():
        return str(folder)
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from studio.tiny import llama3_style
    tok = llama3_style()
    tok.pad_token = "<|finetune_right_pad_id|>"
    config = LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, rope_theta=500000.0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def settings(args) -> "TrainConfig":  # noqa: F821
    from studio.train.recipes import recipe
    cfg = recipe("default")
    cfg.model, cfg.data, cfg.max_steps, cfg.save_steps = args.model_path, str(DATA), args.steps, 10_000
    if args.four_bit is not None:
        cfg.load_in_4bit = args.four_bit
    cfg.template = "llama3" if "llama3" in args.model else "model"
    if args.random_order:
        cfg.group_by_length = False
    if args.padded:
        cfg.padding_free = False
    return cfg


def peak_mb() -> float:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_studio(args) -> dict:
    from studio.train.worker import prepare
    prepared = prepare(Path(tempfile.mkdtemp(prefix="bench-studio-")), settings(args))
    t = time.perf_counter()
    prepared.trainer.train()
    return _result(prepared.trainer, time.perf_counter() - t)


def run_plain(args) -> dict:
    """What a user would write by hand: messages JSONL -> SFTTrainer with a peft LoraConfig."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    from studio.data.persona_store import load_persona
    from studio.data.conversations import conversations_from_persona
    cfg = settings(args)
    persona = load_persona(DATA)
    path = Path(tempfile.mkdtemp(prefix="bench-plain-")) / "messages.jsonl"
    path.write_text("".join(json.dumps({"messages": c.messages()}, ensure_ascii=False) + "\n"
                            for c in conversations_from_persona(persona)), encoding="utf-8")
    ds = load_dataset("json", data_files=str(path), split="train")
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    kw = {"dtype": dtype}
    if cfg.load_in_4bit:
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
        kw["device_map"] = {"": 0} if cuda else {"": "cpu"}
    where = cfg.model if cfg.model != "default" else __import__("studio.models").models.resolve("default")
    model = AutoModelForCausalLM.from_pretrained(where, **kw)
    tok = AutoTokenizer.from_pretrained(where)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    trainer = SFTTrainer(model=model, train_dataset=ds, processing_class=tok, peft_config=LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
        task_type="CAUSAL_LM"), args=SFTConfig(
        output_dir=str(path.parent / "out"), max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate, optim=cfg.optimizer,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=not cuda, bf16=cuda, max_length=cfg.max_length,
        seed=cfg.seed, disable_tqdm=True, assistant_only_loss=False, warmup_steps=cfg.warmup_steps,
        lr_scheduler_type=cfg.scheduler, weight_decay=cfg.weight_decay,
        activation_checkpointing=cfg.gradient_checkpointing))  # trl's default (on) would not be the same setting
    t = time.perf_counter()
    trainer.train()
    return _result(trainer, time.perf_counter() - t)


def _result(trainer, seconds: float) -> dict:
    tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "peak_mb": peak_mb()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default", help="'default', a local folder, or llama3-1b-shape")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--four-bit", dest="four_bit", action="store_true", default=None)
    p.add_argument("--mode", choices=["studio", "plain"])
    p.add_argument("--model-path", dest="model_path")
    p.add_argument("--repeat", type=int, default=2, help="alternate the two modes this many times; best of each")
    p.add_argument("--random-order", action="store_true", help="studio without length grouping (as plain)")
    p.add_argument("--padded", action="store_true", help="studio with padded batches (padding_free off)")
    args = p.parse_args()
    if args.mode:
        print(json.dumps((run_studio if args.mode == "studio" else run_plain)(args)))
        return
    model_path = args.model
    if args.model == "llama3-1b-shape":
        model_path = llama3_1b_shape(Path(tempfile.gettempdir()) / "bench-llama3-1b-shape")
    results: dict[str, dict] = {}
    for i in range(args.repeat):  # alternate, each in its own process (peak memory is each one's own)
        for mode in (("plain", "studio") if i % 2 == 0 else ("studio", "plain")):
            cmd = [sys.executable, "-m", "bench.bench_train", "--mode", mode, "--model", args.model,
                   "--model-path", model_path, "--steps", str(args.steps)]
            cmd += (["--four-bit"] if args.four_bit else []) + (["--random-order"] if args.random_order else []) + \
                (["--padded"] if args.padded else [])
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            if out.returncode != 0:
                sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  run {i + 1} {mode:7} {r['tokens_per_s']:7.1f} tokens/s, peak {r['peak_mb']:7.0f} MB", flush=True)
            if mode not in results or r["tokens_per_s"] > results[mode]["tokens_per_s"]:
                results[mode] = r
    print("best of each:")
    for mode, r in results.items():
        print(f"{mode:7} {r['tokens']:8.0f} tokens in {r['seconds']:6.1f} s = {r['tokens_per_s']:7.1f} tokens/s, "
              f"peak {r['peak_mb']:7.0f} MB")
    s, q = results["studio"], results["plain"]
    print(f"ratio (ours / plain): tokens/s {s['tokens_per_s'] / q['tokens_per_s']:.2f}, "
          f"peak memory {s['peak_mb'] / q['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
