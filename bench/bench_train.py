"""Benchmark: our runner vs a plain trl+peft script, same model, data and settings, alternating in one invocation.
Modes: `plain` (what a user writes by hand: messages JSONL -> SFTTrainer), `padded` (our runner, padded batches),
`padfree` (our runner, padding-free: the default), `packed` (padding-free + best-fit packing into full rows), on
CUDA with liger-kernel installed `packed-liger`; `padded-full` and `padfree-full` are those with the LM head scoring
every position (`trained_logits_only` off); `dpo` and `dpo-full` time DPO steps from a short SFT parent of the same
model on pairs from the persona (`--modes dpo dpo-full`). Prints tokens per second (from the second logged step to
the last, so loading and the first step's warm-up are not counted) and peak memory of each, and each one's ratio to
plain. Packed steps hold several times more tokens, so packed modes run fewer steps (`--packed-steps`), one full row
per micro-batch (batch 1, accumulation = batch x accumulation): a padding-free micro-batch is one row whose
attention mask is block-diagonal but, without flash-attention, computed in full, so one long row of many packed rows
would cost attention quadratic in all of them.

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


def settings(args) -> TrainConfig:  # noqa: F821
    from studio.train.recipes import recipe
    cfg = recipe("default")
    cfg.model, cfg.data, cfg.max_steps, cfg.save_steps = args.model_path, str(DATA), args.steps, 10_000
    cfg.replay_share = 0.0  # the plain script has no replay: same data for every mode
    if args.four_bit is not None:
        cfg.load_in_4bit = args.four_bit
    cfg.template = "llama3" if "llama3" in args.model else "model"
    if args.random_order:
        cfg.group_by_length = False
    cfg.gradient_checkpointing = bool(getattr(args, "grad_ckpt", False))
    mode = args.mode or "padfree"
    cfg.trained_logits_only = not mode.endswith("-full")   # "-full": the LM head scores every position
    mode = mode.removesuffix("-full")
    cfg.padding_free = mode != "padded"
    cfg.packing = mode.startswith("packed")
    cfg.use_liger = mode == "packed-liger"
    per_step = cfg.batch_size * cfg.grad_accum  # the recipe's rows a step (packed); as many examples unpacked
    if cfg.packing:  # one full row per micro-batch
        cfg.max_steps = args.packed_steps
        cfg.batch_size, cfg.grad_accum = 1, per_step
    else:  # one micro-batch of examples a step, as anyone training unpacked would
        cfg.batch_size, cfg.grad_accum = per_step, 1
    return cfg


def peak_mb() -> float:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dpo_parent(args) -> Path:
    """A finished SFT run of the model (a few steps: its adapter only has to exist) and a pairs file from the
    persona (chosen: its answer; rejected: another question's), made once per benchmark."""
    from studio.data.persona_store import load_persona
    from studio.jobs.folders import Run
    runs = Path(tempfile.gettempdir()) / f"bench-dpo-parent-{Path(args.model_path).name}"
    pairs = runs / "pairs.jsonl"
    def finished() -> list[Run]:
        return [Run(p) for p in sorted(runs.iterdir()) if Run(p).has_adapter()] if runs.exists() else []
    if not finished():
        cfg = settings(argparse.Namespace(**{**vars(args), "mode": "padfree", "steps": 2}))
        cfg.save_steps = 1000
        path = runs / "parent.yaml"
        runs.mkdir(parents=True, exist_ok=True)
        path.write_text(cfg.to_yaml(), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "studio", "train", "--config", str(path), "--runs-dir", str(runs)],
                       cwd=ROOT, check=True, capture_output=True)
        qa = load_persona(DATA).pairs
        pairs.write_text("".join(json.dumps({"prompt": p.question, "chosen": p.answer,
                                             "rejected": qa[(i + 7) % len(qa)].answer}, ensure_ascii=False) + "\n"
                                 for i, p in enumerate(qa)), encoding="utf-8")
    return finished()[0].path


def run_studio(args) -> dict:
    from studio.train.worker import prepare
    cfg = settings(args)
    if args.mode.startswith("dpo"):
        from studio.train import preference_launch
        from studio.train.config import TrainConfig
        parent = dpo_parent(args)
        runs = parent.parent
        cfg = TrainConfig(method="dpo", parent_run=parent.name, preferences=str(runs / "pairs.jsonl"),
                          max_steps=args.steps, save_steps=10_000, trained_logits_only=cfg.trained_logits_only)
        cfg, rendered, _ = preference_launch.check(cfg, runs)
        run = preference_launch.make_run_folder(cfg, rendered, runs)
        prepared = prepare(run.path, TrainConfig.load(run.config))
        clock = Clock()
        prepared.trainer.add_callback(clock)
        prepared.trainer.train()
        return clock.result()
    prepared = prepare(Path(tempfile.mkdtemp(prefix="bench-studio-")), cfg)
    clock = Clock()
    prepared.trainer.add_callback(clock)
    prepared.trainer.train()
    return clock.result()


def run_plain(args) -> dict:
    """What a user would write by hand: messages JSONL -> SFTTrainer with a peft LoraConfig."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    from studio.data.conversations import conversations_from_persona
    from studio.data.persona_store import load_persona
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
    from studio.core.models import resolve
    where = resolve(cfg.model)
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
    clock = Clock()
    trainer.add_callback(clock)
    trainer.train()
    return clock.result()


def Clock():  # noqa: N802 - a TrainerCallback made on demand (transformers is imported only in the child)
    from transformers import TrainerCallback

    class _Clock(TrainerCallback):
        """(time, tokens so far) at every logged step."""
        def __init__(self):
            self.marks: list[tuple[float, float]] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.marks.append((time.perf_counter(), float(logs.get("num_tokens", 0))))

        def result(self) -> dict:
            (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
            return {"tokens": n1 - n0, "seconds": t1 - t0, "tokens_per_s": (n1 - n0) / (t1 - t0),
                    "steps": len(self.marks) - 1, "s_per_step": (t1 - t0) / max(len(self.marks) - 1, 1),
                    "peak_mb": peak_mb()}
    return _Clock()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default", help="'default', a local folder, or llama3-1b-shape")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--packed-steps", type=int, default=4, help="steps of the packed modes (each holds more tokens)")
    p.add_argument("--four-bit", dest="four_bit", action="store_true", default=None)
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--modes", nargs="*", choices=MODES, help="modes to compare (default: all that run here)")
    p.add_argument("--model-path", dest="model_path")
    p.add_argument("--repeat", type=int, default=2, help="alternate the modes this many times; best of each")
    p.add_argument("--random-order", action="store_true", help="our runner without length grouping (as plain)")
    p.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing on (both runners)")
    args = p.parse_args()
    if args.mode:
        print(json.dumps((run_plain if args.mode == "plain" else run_studio)(args)))
        return
    model_path = args.model
    if args.model == "llama3-1b-shape":
        model_path = llama3_1b_shape(Path(tempfile.gettempdir()) / "bench-llama3-1b-shape")
    modes = args.modes or [m for m in MODES if (m != "packed-liger" or _liger_runs()) and not m.startswith("dpo")]
    results: dict[str, dict] = {}
    for i in range(args.repeat):  # alternate, each in its own process (peak memory is each one's own)
        for mode in (modes if i % 2 == 0 else modes[::-1]):
            cmd = [sys.executable, "-m", "bench.bench_train", "--mode", mode, "--model", args.model,
                   "--model-path", model_path, "--steps", str(args.steps), "--packed-steps", str(args.packed_steps)]
            cmd += (["--four-bit"] if args.four_bit else []) + (["--random-order"] if args.random_order else [])
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            if out.returncode != 0:
                sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  run {i + 1} {mode:12} {r['tokens_per_s']:8.1f} tokens/s, {r['s_per_step']:6.2f} s/step, "
                  f"peak {r['peak_mb']:7.0f} MB", flush=True)
            if mode not in results or r["s_per_step"] < results[mode]["s_per_step"]:
                results[mode] = {**r, "peak_mb": min(r["peak_mb"], results.get(mode, r)["peak_mb"])}
            else:  # the lower peak: a mode's first run also fills caches the later ones reuse
                results[mode]["peak_mb"] = min(r["peak_mb"], results[mode]["peak_mb"])
    base = results.get("plain")
    print(f"best of each ({'CUDA' if _cuda() else 'CPU'}, model {args.model}; tokens/s: the fastest run, peak: the "
          "lowest):")
    print("| mode | steps timed | tokens | seconds | s/step | tokens/s | peak MB | tokens/s vs plain | memory vs plain "
          "| step vs its -full |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode, r in results.items():
        ratio = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base and r["tokens"] else "-"
        mem = f"{r['peak_mb'] / base['peak_mb']:.2f}x" if base else "-"
        full = results.get(mode + "-full")
        speed = f"{full['s_per_step'] / r['s_per_step']:.2f}x" if full else "-"
        print(f"| {mode} | {r['steps']} | {r['tokens']:.0f} | {r['seconds']:.1f} | {r['s_per_step']:.2f} | "
              f"{r['tokens_per_s']:.1f} | {r['peak_mb']:.0f} | {ratio} | {mem} | {speed} |")


MODES = ("plain", "padded", "padfree", "packed", "packed-liger", "padded-full", "padfree-full", "dpo", "dpo-full")


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def _liger_runs() -> bool:
    import importlib.util
    return importlib.util.find_spec("liger_kernel") is not None and _cuda()


if __name__ == "__main__":
    main()
