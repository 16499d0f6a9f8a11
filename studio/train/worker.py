"""The training recipe, read top to bottom: setup -> data -> model -> train -> save. Runs in its own process
(`python -m studio _worker RUN_DIR`), writing only files in the run directory; never imported by the UI."""
from __future__ import annotations

import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from studio.format.contract import Contract, data_hash, model_hash
from studio.errors import StudioError
from studio.format.findings import has_errors
from studio.format.formatting import FormatSettings, add_control_tokens, missing_control_tokens, render_persona
from studio.models import load_tokenizer, resolve
from studio.data.persona_store import load_persona
from studio.format.render import stop_token_ids
from studio.train.callbacks import RunFilesCallback
from studio.train.config import TrainConfig
from studio.jobs.status import State, explain, pid_fields  # noqa: F401 - explain is tested through here
from studio.train.runs import CONFIG, damaged_checkpoints, error_fields, latest_checkpoint, write_status
from studio.train.folder import Run
from studio.train import distributed
from studio.train.distributed import Rank


@dataclass
class Prepared:
    trainer: object
    tokenizer: object
    contract: Contract
    config: TrainConfig


def device_settings(cfg: TrainConfig) -> tuple[str, str]:
    """(device, dtype name): CUDA -> bf16 where supported else fp16; CPU -> fp32 (bf16 on CPU is ~12x slower)."""
    import torch
    if torch.cuda.is_available():
        dtype = cfg.compute_dtype if cfg.compute_dtype != "auto" else (
            "bf16" if torch.cuda.is_bf16_supported() else "fp16")
        return "cuda", dtype
    return "cpu", "fp32" if cfg.compute_dtype == "auto" else cfg.compute_dtype


def attention(cfg: TrainConfig, device: str, dtype_name: str) -> str | None:
    """flash_attention_2 where it runs (CUDA, 16-bit, the flash-attn package) and batches are padding-free or
    packed: its variable-length kernels skip the masked-out blocks that sdpa computes in full. None: the default."""
    import importlib.util
    if device == "cuda" and dtype_name in ("bf16", "fp16") and (cfg.padding_free or cfg.packing) \
            and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return None


def prepare(run: Path, cfg: TrainConfig) -> Prepared:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    from trl import SFTConfig

    from studio.train.trainer import trainer_class

    # --- data: the renderer makes input_ids and labels; trl uses them as they are
    tok = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    data_dir = Run(run).data if Run(run).data.exists() else Path(cfg.data)
    persona = load_persona(data_dir)
    settings = FormatSettings(template=cfg.template, max_length=cfg.max_length, train_on=cfg.train_on,
                              system_override=cfg.system_prompt)
    where = resolve(cfg.model)
    replay = replay_rows(run, cfg, persona, where)
    result = render_persona(persona, tok, settings, replay=replay)
    added = missing_control_tokens(result) if cfg.add_control_tokens else []
    if added:
        add_control_tokens(tok, added)
        result = render_persona(persona, tok, settings, replay=replay)
    if has_errors(result.findings) and not cfg.allow_doctor_errors:
        codes = ", ".join(sorted({f.code for f in result.findings if f.severity == "error"}))
        raise StudioError("err.train_worker.1", codes=codes)
    examples = [r for r in result.renders if any(l != -100 for l in r.labels)]
    cfg.validate(len(examples))
    from studio.train.launch import check_fused_kernels
    check_fused_kernels(cfg)   # again here: a resumed run may be on another machine
    ds = Dataset.from_dict({"input_ids": [r.input_ids for r in examples], "labels": [r.labels for r in examples]})
    eval_ds = None
    if cfg.eval_fraction > 0 and len(examples) >= 10:
        split = ds.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
        ds, eval_ds = split["train"], split["test"]

    # --- model: 4-bit NF4 base (optional) + LoRA
    device, dtype_name = device_settings(cfg)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    kwargs: dict = {"dtype": dtype if device == "cuda" else torch.float32, "trust_remote_code": cfg.trust_remote_code}
    if attention(cfg, device, dtype_name):
        kwargs["attn_implementation"] = attention(cfg, device, dtype_name)
    if cfg.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=cfg.double_quant,
            bnb_4bit_compute_dtype=dtype)
        # each rank loads the 4-bit base onto its own GPU (QLoRA + DDP)
        kwargs["device_map"] = {"": Rank.current().local_rank} if device == "cuda" else {"": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except OSError as e:
        raise StudioError("err.train_worker.3", where=where, str=str(e).splitlines()[0][:200]) from None
    if added:
        model.resize_token_embeddings(len(tok))
    # Training needs no KV cache. With one, transformers skips the block-diagonal mask it builds from packed
    # position_ids (only when past_key_values is None), and padding-free examples would attend to each other.
    model.config.use_cache = False
    present = {n.split(".")[-1] for n, _ in model.named_modules()}
    targets = [t for t in cfg.target_modules if t in present]
    if not targets:
        raise StudioError("err.train_worker.2", target_modules=cfg.target_modules)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                      use_rslora=cfg.use_rslora, use_dora=cfg.use_dora, task_type="CAUSAL_LM",
                      modules_to_save=["embed_tokens", "lm_head"] if added else None)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # padding is masked by position (labels -100), never by id

    args = SFTConfig(
        output_dir=str(Run(run).checkpoints), max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.scheduler,
        weight_decay=cfg.weight_decay, optim=cfg.optimizer, seed=cfg.seed, neftune_noise_alpha=cfg.neftune_alpha,
        activation_checkpointing=cfg.gradient_checkpointing and not distributed.uses_fsdp(cfg),  # FSDP: its own
        train_sampling_strategy="random",  # length grouping (padded batches only): our bucket sampler, below
        logging_steps=cfg.logging_steps, save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if eval_ds is not None else "no", eval_steps=cfg.save_steps,
        report_to="none", disable_tqdm=True, use_cpu=device == "cpu", bf16=dtype_name == "bf16" and device == "cuda",
        fp16=dtype_name == "fp16" and device == "cuda", pad_to_multiple_of=None,
        # the renderer already cut every example to max_length; trl enforces it itself only for padded batches
        # (packing fills rows up to max_length with whole examples: best-fit decreasing, never cut)
        max_length=cfg.max_length if cfg.packing or not cfg.padding_free else None,
        padding_free=cfg.padding_free or cfg.packing,
        use_liger_kernel=cfg.use_liger, packing=cfg.packing, packing_strategy="bfd",
        dataloader_num_workers=0, **distributed.trainer_kwargs(cfg, device))
    trainer = trainer_class()(model=model, args=args, train_dataset=ds, eval_dataset=eval_ds, processing_class=tok,
                              peft_config=lora, callbacks=[RunFilesCallback(run)])
    trainer.group_by_length = cfg.group_by_length and not (cfg.padding_free or cfg.packing)

    contract = Contract(
        base_model=cfg.model, base_model_path=where, base_model_hash=model_hash(where), template=cfg.template,
        system_prompt=persona.system_prompt if cfg.system_prompt is None else cfg.system_prompt,
        notes=persona.notes, notes_in_prompt=persona.notes_in_prompt, bos_token=tok.bos_token,
        eos_token=tok.eos_token, end_of_turn=tok.convert_ids_to_tokens(stop_token_ids(cfg.template, tok)[0]),
        stop_token_ids=stop_token_ids(cfg.template, tok), max_length=cfg.max_length, train_on=cfg.train_on,
        data_hash=data_hash([p.content_row() for p in persona.pairs]), added_tokens=added, persona_name=persona.name,
        style_markers=persona.style.markers, target_chars=persona.style.target_chars,
        replay_share=cfg.replay_share if replay else 0.0, replay_rows=len(replay),
        replay_system=cfg.replay_system if replay else "")
    return Prepared(trainer, tok, contract, cfg)


def replay_rows(run: Path, cfg: TrainConfig, persona, where: str) -> list:
    """The replay conversations for this run (none when replay_share is 0): made before the model loads, so
    the base answers with its full weights and the run's memory is not held twice."""
    from studio.train import replay as rp
    if cfg.replay_share <= 0:
        return []
    answers = rp.answers_for_run(run, run.parent, where, model_hash(where), cfg.template, cfg.replay_prompts,
                                 say=lambda msg: print(msg, flush=True))
    convs = rp.persona_replay(persona, answers, cfg.replay_share, cfg.replay_system, cfg.seed, cfg.system_prompt)
    print(f"replay: {len(convs)} rows ({cfg.replay_share:.0%} of training rows) from "
          f"{sum(a.stopped for a in answers)}/{len(answers)} answers that ended on their own", flush=True)
    return convs


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def run_worker(run: Path, resume: bool = False) -> int:
    """Train the run in this process. Exit code 0 finished/stopped, 1 failed. Everything goes to files."""
    import os
    rank = Rank.current()
    if rank.world > 1:
        distributed.die_with_parent()  # status.json's pid is the launch process: its ranks must not outlive it
    if rank.writes_files:
        own = pid_fields(os.getpid()) if rank.world == 1 else {}
        write_status(run, state=State.RUNNING, **own, error=None, versions=versions(), started=time.time())
    try:
        cfg = TrainConfig.load(run / CONFIG)
        prepared = prepare(run, cfg)
        ckpt = latest_checkpoint(run) if resume else None
        if resume:
            for name, why in damaged_checkpoints(run):
                print(f"skipping damaged {name}: {why}", flush=True)
            print(f"resuming from {ckpt.name}" if ckpt else "no usable checkpoint: starting from step 0", flush=True)
        if rank.writes_files:
            prepared.contract.save(run)
        prepared.trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        adapter = Run(run).adapter
        prepared.trainer.save_model(str(adapter))  # the Trainer writes from the saving rank only
        if not rank.writes_files:
            return 0
        prepared.tokenizer.save_pretrained(adapter)
        prepared.contract.save(adapter)
        state = prepared.trainer.state
        stopped = state.global_step < state.max_steps  # only a stop request ends training early (on any machine)
        outcome = State.STOPPED if stopped else State.FINISHED
        # with several ranks the launch process sets the state, once every rank has ended
        write_status(run, **({"outcome": outcome} if rank.world > 1 else {"state": outcome}), step=state.global_step,
                     total=state.max_steps, finished=time.time(), eta_s=0)
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must reach status.json
        traceback.print_exc()
        if rank.world > 1:  # the launch process reports it, once every rank has ended
            distributed.write_rank_error(run, rank, explain(e))
        else:
            write_status(run, state=State.FAILED, **error_fields(explain(e)), finished=time.time())
        return 1
    finally:
        sys.stdout.flush()
