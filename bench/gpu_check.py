"""The GPU acceptance check: one command that proves the CUDA path end to end and prints the ratios, fast enough
to run twice in a lent GPU's 15 minutes. No hub access, no arguments needed.

    python -m bench.gpu_check              # on a GPU: Llama-3.2-1B-shaped random model (128k vocabulary), 4-bit
    python -m bench.gpu_check --dry-run    # anywhere, in seconds: tiny shapes on the CPU (what CI runs)

Each step is timed and checked; the first hard failure stops the check with its reason. Steps:
  1. a model with random weights and the sample persona;
  2. training through the real launcher with the device's recipe (replay answers made by the 4-bit base first):
     loss falls, the adapter is saved; then a second run is stopped and resumed;
  3. throughput rows, alternating in separate processes: the plain trl + peft + bitsandbytes script (baseline),
     ours padding-free, ours packed, packed with Liger and flash-attention 2 when they import, and gradient
     checkpointing — tokens/s and peak memory, each as a ratio to the plain script;
  4. merge onto the unquantized base (verified), GGUF q8_0 export (verified by reading it back);
  5. the chat engine's first-token latency; a 2-process DDP run when two GPUs are visible.
The table is printed and written as JSON under bench/results/.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "personas" / "ayano"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Row:
    step: str
    status: str                     # ok | failed | skipped | not installed
    seconds: float = 0.0
    detail: str = ""
    numbers: dict = field(default_factory=dict)


class Check:
    def __init__(self, dry: bool):
        self.dry, self.rows = dry, []
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.runs = self.work / "runs"

    def step(self, name: str, fn, hard: bool = True) -> dict | None:
        t0 = time.time()
        try:
            numbers = fn() or {}
            self.rows.append(Row(name, "ok", round(time.time() - t0, 1), numbers=numbers))
            print(f"ok      {name} ({time.time() - t0:.1f} s) {json.dumps(numbers)}", flush=True)
            return numbers
        except Skip as s:
            self.rows.append(Row(name, s.status, round(time.time() - t0, 1), str(s)))
            print(f"{s.status:7} {name}: {s}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a row with its reason
            self.rows.append(Row(name, "failed", round(time.time() - t0, 1), f"{type(e).__name__}: {e}"[:2000]))
            print(f"FAILED  {name}: {type(e).__name__}: {e}", flush=True)
            if hard:
                raise Stop from None
        return None


class Skip(Exception):
    def __init__(self, why: str, status: str = "skipped"):
        super().__init__(why)
        self.status = status


class Stop(Exception):
    """A hard failure: the check ends here (the table still prints)."""


def studio(*args: str, timeout: float = 1200) -> str:
    out = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode:
        raise RuntimeError(f"studio {' '.join(args[:2])} exited {out.returncode}: {out.stderr.strip()[-1500:]}")
    return out.stdout


def build_model(c: Check) -> dict:
    if c.dry:
        from studio.tiny import save_tiny_model
        c.model = str(save_tiny_model(c.work / "model", "llama3"))
    else:
        from bench.bench_train import llama3_1b_shape
        c.model = llama3_1b_shape(c.work / "model")
    prompts = c.work / "replay.txt"
    prompts.write_text("What is the capital of France?\n日本の首都はどこですか？\nName a primary color.\n"
                       "1たす1は？\n", encoding="utf-8")
    c.replay_prompts = str(prompts)
    cfg = json.loads((Path(c.model) / "config.json").read_text())
    return {"hidden": cfg["hidden_size"], "layers": cfg["num_hidden_layers"], "vocab": cfg["vocab_size"]}


def run_config(c: Check, steps: int, name: str) -> Path:
    from studio.train.recipes import recipe
    cfg = recipe(c.model, device="cpu" if c.dry else None)
    cfg.data, cfg.template, cfg.max_steps, cfg.save_steps = str(DATA), "llama3", steps, max(2, steps // 2)
    cfg.replay_share, cfg.replay_prompts = 0.25, c.replay_prompts
    if c.dry:
        cfg.max_length, cfg.batch_size, cfg.grad_accum = 1024, 4, 1   # the tiny tokenizer needs more tokens
        cfg.learning_rate = 1e-2   # a random tiny model: a clear fall within a few steps
    path = c.work / f"{name}.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    return path


def train(c: Check) -> dict:
    from studio.jobs.runs import read_metrics
    steps = 10 if c.dry else 40
    run = Path(studio("train", "--config", str(run_config(c, steps, "train")), "--runs-dir", str(c.runs))
               .strip().splitlines()[-1])
    losses = [m["loss"] for m in read_metrics(run) if "loss" in m]
    from studio.jobs.folders import Run
    if not Run(run).has_adapter():
        raise RuntimeError("no adapter saved")
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    if not last < first:
        raise RuntimeError(f"loss did not fall: {first:.3f} -> {last:.3f}")
    c.run = run
    return {"steps": len(losses), "loss_first": round(first, 3), "loss_last": round(last, 3)}


def stop_and_resume(c: Check) -> dict:
    from studio.jobs.launcher import wait
    from studio.jobs.status import read_status
    run = Path(studio("train", "--config", str(run_config(c, 40 if c.dry else 200, "resume")), "--runs-dir",
                      str(c.runs), "--detach").strip().splitlines()[-1])
    deadline = time.time() + 600
    while (read_status(run).step or 0) < 3:
        if time.time() > deadline or read_status(run).state in ("failed", "finished"):
            raise RuntimeError(f"the run did not reach step 3: {read_status(run)}")
        time.sleep(0.5)
    studio("stop", "--run", str(run))
    stopped = wait(run, echo=lambda _: None)
    if stopped.state != "stopped":
        raise RuntimeError(f"stop ended as {stopped['state']}: {stopped.get('error')}")
    at = stopped.step
    studio("train", "--resume", str(run), "--runs-dir", str(c.runs), "--detach")
    while (read_status(run).step or 0) <= (at or 0) + 1:
        if read_status(run).state in ("failed",):
            raise RuntimeError(f"resume failed: {read_status(run).error}")
        time.sleep(0.5)
    studio("stop", "--run", str(run))
    wait(run, echo=lambda _: None)
    return {"stopped_at": at, "resumed_to": read_status(run).step}


def throughput(c: Check, mode: str, extra: list[str] | None = None) -> dict:
    steps = "4" if c.dry else "20"
    cmd = [sys.executable, "-m", "bench.bench_train", "--mode", mode, "--model", "llama3-1b-shape", "--model-path",
           c.model, "--steps", steps, "--packed-steps", "3" if c.dry else "8", *(extra or [])]
    if not c.dry:
        cmd.append("--four-bit")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode:
        tail = out.stderr.strip()[-800:]
        if "out of memory" in tail.lower():
            raise Skip(f"out of memory with mode {mode} {' '.join(extra or [])}", "oom")
        raise RuntimeError(tail)
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput_rows(c: Check) -> None:
    import importlib.util

    import torch
    cuda = torch.cuda.is_available()
    variants = [("plain", "plain", []), ("ours padding-free", "padfree", []), ("ours packed", "packed", []),
                ("ours padding-free, gradient checkpointing", "padfree", ["--grad-ckpt"])]
    optional = [("ours packed + Liger", "packed-liger", [], "liger_kernel"),
                ("ours packed + flash-attention 2", "packed", [], "flash_attn")]
    results: dict[str, dict] = {}
    for repeat in range(1):   # once each (the 8-minute budget); bench.bench_train alternates for finer numbers
        order = variants if repeat % 2 == 0 else variants[::-1]
        for name, mode, extra in order:
            r = c.step(f"throughput: {name} (run {repeat + 1})", lambda m=mode, e=extra: throughput(c, m, e),
                       hard=False)
            if r and (name not in results or r["tokens_per_s"] > results[name]["tokens_per_s"]):
                results[name] = r
    for name, mode, extra, package in optional:
        if importlib.util.find_spec(package) is None or not cuda:
            c.rows.append(Row(f"throughput: {name}", "not installed" if cuda else "skipped",
                              detail=f"{package} does not import" if cuda else "needs CUDA"))
            continue
        r = c.step(f"throughput: {name}", lambda m=mode, e=extra: throughput(c, m, e), hard=False)
        if r:
            results[name] = r
    base = results.get("plain")
    c.throughput = {name: {**r, "tokens_per_s_vs_plain": round(r["tokens_per_s"] / base["tokens_per_s"], 2)
                           if base else None, "memory_vs_plain": round(r["peak_mb"] / base["peak_mb"], 2)
                           if base else None} for name, r in results.items()}


def merge(c: Check) -> dict:
    out = studio("merge", "--adapter", str(c.run))
    return {"summary": out.strip().splitlines()[-1][:200]}


def export(c: Check) -> dict:
    out = studio("export", "--run", str(c.run), "--quant", "q8_0", timeout=1800)
    return {"file": out.strip().splitlines()[-1][:200]}


def first_token(c: Check) -> dict:
    from studio.format.contract import Contract
    from studio.jobs.folders import Run
    from studio.serve.chat import ChatEngine, GenSettings
    from studio.serve.chat import Row as ChatRow
    adapter = Run(c.run).adapter
    contract = Contract.load(adapter)
    engine = ChatEngine(contract.base_model_path)
    engine.add_adapter("tuned", adapter)
    row = ChatRow("tuned", contract, [], "ごきげんよう。")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in engine.stream([row], GenSettings(max_new_tokens=8)):
            times.append(time.perf_counter() - t0)
            break
    engine.release()
    return {"first_token_s": round(min(times), 3)}


def ddp(c: Check) -> dict:
    import torch
    if torch.cuda.device_count() < 2:
        raise Skip(f"{torch.cuda.device_count()} GPU visible: DDP needs two")
    path = run_config(c, 10, "ddp")
    studio("train", "--config", str(path), "--num-processes", "2", "--runs-dir", str(c.runs))
    return {"processes": 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU: proves the check works")
    ap.add_argument("--out", type=Path, default=None, help="the JSON table (default: bench/results/)")
    args = ap.parse_args()
    import torch
    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        print("No GPU here (torch sees no CUDA device): nothing to check. `--dry-run` runs the check with tiny "
              "shapes on the CPU.")
        return
    c = Check(dry=args.dry_run)
    device = torch.cuda.get_device_name(0) if cuda and not args.dry_run else "CPU (dry run)"
    print(f"GPU check on {device}; work folder {c.work}", flush=True)
    t0 = time.time()
    try:
        c.step("model and data", lambda: build_model(c))
        c.step("train through the launcher (recipe, replay by the base, loss falls, adapter saved)", lambda: train(c))
        c.step("stop and resume", lambda: stop_and_resume(c), hard=False)
        throughput_rows(c)
        c.step("merge onto the unquantized base (verified)", lambda: merge(c), hard=False)
        c.step("GGUF q8_0 export (verified by reading it back)", lambda: export(c), hard=False)
        c.step("chat first-token latency", lambda: first_token(c), hard=False)
        c.step("2-process DDP", lambda: ddp(c), hard=False)
    except Stop:
        print("stopped at the first hard failure", flush=True)
    report = {"device": device, "dry_run": args.dry_run, "seconds": round(time.time() - t0, 1),
              "rows": [asdict(r) for r in c.rows], "throughput": getattr(c, "throughput", {})}
    print("| step | status | seconds | detail |\n| --- | --- | --- | --- |")
    for r in c.rows:
        print(f"| {r.step} | {r.status} | {r.seconds} | {(r.detail or json.dumps(r.numbers))[:160]} |")
    if report["throughput"]:
        print("| variant | tokens/s | peak MB | tokens/s vs plain | memory vs plain |\n| --- | --- | --- | --- | --- |")
        for name, r in report["throughput"].items():
            print(f"| {name} | {r['tokens_per_s']:.1f} | {r['peak_mb']:.0f} | {r['tokens_per_s_vs_plain']} | "
                  f"{r['memory_vs_plain']} |")
    out = args.out or RESULTS / f"gpu_check-{'dry-' if args.dry_run else ''}{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out} ({report['seconds']} s)")
    if any(r.status == "failed" for r in c.rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
