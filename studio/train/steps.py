"""The steps every training method shares: setup (tokenizer, persona, base, device), the base model with 4-bit
quantization, the LoRA config, the trainer arguments every method uses, and the run's contract. Imported only by
the training worker (torch, transformers, peft, trl inside the functions)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.models import load_tokenizer, resolve
from studio.data.persona_store import load_persona
from studio.format.contract import Contract, data_hash, model_hash
from studio.format.formatting import FormatSettings
from studio.format.render import stop_token_ids
from studio.jobs.folders import Run
from studio.train import distributed
from studio.train.config import TrainConfig, trackers
from studio.train.distributed import Rank


@dataclass
class Setup:
    run: Path
    cfg: TrainConfig
    tokenizer: object
    persona: object
    where: str                # the base model's local folder
    device: str
    dtype_name: str
    settings: FormatSettings  # how the persona renders (template, length, what is trained)


@dataclass
class TrainData:
    train: object                        # a datasets.Dataset of input_ids/labels (or a method's own columns)
    eval: object | None
    rows: int                            # examples trained on
    replay: list = field(default_factory=list)
    added: list[str] = field(default_factory=list)   # control tokens added to the vocabulary
    preferences_hash: str = ""                       # preference methods: what they trained on
    skipped: dict[str, int] = field(default_factory=dict)


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


def make_setup(run: Path, cfg: TrainConfig) -> Setup:
    tok = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    data_dir = Run(run).data if Run(run).data.exists() else Path(cfg.data)
    settings = FormatSettings(template=cfg.template, max_length=cfg.max_length, train_on=cfg.train_on,
                              system_override=cfg.system_prompt)
    device, dtype_name = device_settings(cfg)
    return Setup(run, cfg, tok, load_persona(data_dir), resolve(cfg.model), device, dtype_name, settings)


def load_base(setup: Setup, added: list[str]):
    """The base model: 4-bit NF4 (optional) on this rank's device, without a KV cache."""
    import torch
    from transformers import BitsAndBytesConfig

    from studio.core.models import load_model

    cfg, device, dtype_name = setup.cfg, setup.device, setup.dtype_name
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    kwargs: dict = {}
    if attention(cfg, device, dtype_name):
        kwargs["attn_implementation"] = attention(cfg, device, dtype_name)
    if cfg.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=cfg.double_quant,
            bnb_4bit_compute_dtype=dtype)
        # each rank loads the 4-bit base onto its own GPU (QLoRA + DDP)
        kwargs["device_map"] = {"": Rank.current().local_rank} if device == "cuda" else {"": "cpu"}
    try:
        # weights in the compute dtype on a GPU, fp32 on the CPU; the trainer places them on each rank's device
        model = load_model(setup.where, dtype=dtype_name if device == "cuda" else "fp32", on=device,
                           trust_remote_code=cfg.trust_remote_code, train=True, move=False, **kwargs)
    except OSError as e:
        raise StudioError("err.train.cannot_load", where=setup.where, str=str(e).splitlines()[0][:200]) from None
    if added:
        model.resize_token_embeddings(len(setup.tokenizer))
    # Training needs no KV cache. With one, transformers skips the block-diagonal mask it builds from packed
    # position_ids (only when past_key_values is None), and padding-free examples would attend to each other.
    model.config.use_cache = False
    if setup.tokenizer.pad_token_id is None:
        setup.tokenizer.pad_token = setup.tokenizer.eos_token  # padding is masked by position (labels -100)
    return model


def lora_config(cfg: TrainConfig, model, added: list[str]):
    """LoRA on the configured layers the model has (refusing a config that names none of them)."""
    from peft import LoraConfig
    present = {n.split(".")[-1] for n, _ in model.named_modules()}
    targets = [t for t in cfg.target_modules if t in present]
    if not targets:
        raise StudioError("err.train.no_target_modules", target_modules=cfg.target_modules)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                      use_rslora=cfg.use_rslora, use_dora=cfg.use_dora, task_type="CAUSAL_LM",
                      modules_to_save=["embed_tokens", "lm_head"] if added else None)


def tracker_env(run: Run, chosen: list[str]) -> None:
    """Trackers write into the run folder, not the folder the studio was started from (a user's own setting in the
    environment wins); wandb without a network logs offline at once instead of retrying for minutes."""
    import os
    folder = run.trackers
    if "wandb" in chosen:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WANDB_DIR", str(folder))
        if "WANDB_MODE" not in os.environ:
            from studio.core.models import hub_reachable
            if not hub_reachable():
                os.environ["WANDB_MODE"] = "offline"
                print("wandb: no network, logging offline into", folder, "(wandb sync uploads it later)", flush=True)
    if "mlflow" in chosen:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    if "trackio" in chosen:
        os.environ.setdefault("TRACKIO_DIR", str(folder / "trackio"))


def common_args(setup: Setup, has_eval: bool) -> dict:
    """The trainer arguments every method shares (steps, optimizer, saving, device, processes, trackers)."""
    import os
    cfg, device, dtype_name = setup.cfg, setup.device, setup.dtype_name
    # TensorBoard's events go into the run folder (this is the worker's own process): tensorboard --logdir runs/
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(Run(setup.run).tensorboard)
    tracker_env(Run(setup.run), trackers(cfg))
    return dict(
        output_dir=str(Run(setup.run).checkpoints), max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.scheduler,
        weight_decay=cfg.weight_decay, optim=cfg.optimizer, seed=cfg.seed,
        activation_checkpointing=cfg.gradient_checkpointing and not distributed.uses_fsdp(cfg),  # FSDP: its own
        logging_steps=cfg.logging_steps, save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if has_eval else "no", eval_steps=cfg.save_steps,
        report_to=trackers(cfg) or "none", disable_tqdm=True, use_cpu=device == "cpu",
        bf16=dtype_name == "bf16" and device == "cuda",
        fp16=dtype_name == "fp16" and device == "cuda", dataloader_num_workers=0,
        **distributed.trainer_kwargs(cfg, device))


def contract_for(setup: Setup, data: TrainData) -> Contract:
    """The template contract saved with the run and its adapter: what chat, merge, eval, export and serve read."""
    cfg, tok, persona = setup.cfg, setup.tokenizer, setup.persona
    stops = stop_token_ids(cfg.template, tok)
    return Contract(
        base_model=cfg.model, base_model_path=setup.where, base_model_hash=model_hash(setup.where),
        template=cfg.template, system_prompt=persona.system_prompt if cfg.system_prompt is None else cfg.system_prompt,
        notes=persona.notes, notes_in_prompt=persona.notes_in_prompt, bos_token=tok.bos_token,
        eos_token=tok.eos_token, end_of_turn=tok.convert_ids_to_tokens(stops[0]), stop_token_ids=stops,
        max_length=cfg.max_length, train_on=cfg.train_on,
        data_hash=data_hash([p.content_row() for p in persona.pairs]), added_tokens=data.added,
        persona_name=persona.name, style_markers=persona.style.markers, target_chars=persona.style.target_chars,
        replay_share=cfg.replay_share if data.replay else 0.0, replay_rows=len(data.replay),
        replay_system=cfg.replay_system if data.replay else "", method=cfg.method, parent_run=cfg.parent_run,
        preferences_hash=data.preferences_hash, preference_rows=data.rows if cfg.needs_parent else 0)
