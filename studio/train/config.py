"""The training configuration: one dataclass, a comment per field, YAML round trip, validation naming the field."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from studio.errors import StudioError
from studio.format.render import TRAIN_ON
from studio.format.templates import TEMPLATE_NAMES
from studio.locale import T

STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")
OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit", "adamw_torch")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    # what to train
    model: str = "default"              # local folder, hub id, or 'default' (the embedded SmolLM2-135M-Instruct)
    data: str = ""                      # persona folder or CSV/TSV/JSONL file
    template: str = "model"             # llama2 | llama3 | model (the tokenizer's own chat template)
    system_prompt: str | None = None    # overrides the persona's system prompt when set
    max_length: int = 1024              # tokens per example; longer examples are truncated (the Doctor warns)
    train_on: str = "responses"         # responses | last | all
    add_control_tokens: bool = False    # add missing template control tokens and train their embedding rows
    allow_doctor_errors: bool = False   # launch even though the Template Doctor reports errors
    trust_remote_code: bool = False     # run the model's own Python code (only for sources you trust)
    # quantization (QLoRA)
    load_in_4bit: bool = True           # NF4 4-bit base weights (bitsandbytes)
    double_quant: bool = True           # quantize the quantization constants too
    compute_dtype: str = "auto"         # auto (bf16 on CUDA if supported, else fp16; fp32 on CPU) | bf16 | fp16 | fp32
    # LoRA
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    use_rslora: bool = False
    use_dora: bool = False
    # optimisation
    batch_size: int = 2                 # per device
    grad_accum: int = 4                 # effective batch = batch_size * grad_accum
    max_steps: int = 60                 # > 0 wins over epochs
    epochs: float = 1.0
    learning_rate: float = 2e-4
    warmup_steps: float = 5             # steps (a float below 1 is a fraction of all steps)
    scheduler: str = "linear"
    weight_decay: float = 0.01
    optimizer: str = "adamw_8bit"
    seed: int = 3407
    neftune_alpha: float | None = None  # NEFTune noise; None = off
    gradient_checkpointing: bool = False  # saves memory on big models; ~20% slower
    group_by_length: bool = True        # padded batches: similar lengths together (less padding), random order
    padding_free: bool = True           # a batch's examples in one row, no padding (exact: see test_packing)
    use_liger: bool = False             # Liger fused kernels (CUDA + liger-kernel): no full logits in memory
    packing: bool = False               # fill rows of max_length with whole examples (best-fit decreasing): fewer,
                                        # fuller steps; each step then sees more examples (retune max_steps)
    # several processes (GPUs) or machines, through torch.distributed (torchrun's launcher); 1 = one process
    num_processes: int = 1              # processes in all, over every machine (one per GPU; CPU: gloo)
    strategy: str = "ddp"               # ddp | fsdp | deepspeed-zero2 | deepspeed-zero3 (README: what combines)
    num_machines: int = 1               # machines taking part (each runs the same command with its own rank)
    machine_rank: int = 0               # this machine's rank, 0 = the main machine
    main_address: str = ""              # the main machine's address (several machines only)
    main_port: int = 0                  # its rendezvous port (0 = a free one; several machines: 29500)
    # replay: the base model's answers to general prompts, mixed in so the character keeps general knowledge
    replay_share: float = 0.0           # share of training rows that are replay rows (0 = off; the recipes set
                                        # 0.25, chosen by measurement; 0 here keeps older run configs as they were)
    replay_prompts: str = ""            # general prompts file ('' = the shipped data/replay/general_prompts.txt)
    replay_system: str = "persona"      # persona | none: render replay rows with or without the persona's system
    # evaluation and saving
    eval_fraction: float = 0.0          # share of examples held out for eval loss (0 = none)
    logging_steps: int = 1
    save_steps: int = 20                # checkpoint every N steps (resume continues from the last one)
    save_total_limit: int = 3

    def to_yaml(self) -> str:
        return yaml.safe_dump(asdict(self), allow_unicode=True, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise StudioError("err.train_config.1", source=source, join=', '.join(unknown))
        cfg = cls()
        for k, v in data.items():
            default = getattr(cfg, k)
            try:
                if v is None or default is None or isinstance(default, (list, str)):
                    setattr(cfg, k, v)
                elif isinstance(default, bool):
                    setattr(cfg, k, v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on"))
                else:
                    setattr(cfg, k, type(default)(v))
            except (TypeError, ValueError):
                raise StudioError("err.train_config.5", source=source, k=k, type=type(default).__name__, v=v) from None
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise StudioError("err.train_config.3", path=path, reason=e) from None
        if not isinstance(data, dict):
            raise StudioError("err.train_config.2", path=path)
        return cls.from_dict(data, str(path))

    def validate(self, n_examples: int | None = None) -> None:
        """Refuse invalid settings before launch, naming the field."""
        checks = [
            (self.lora_r >= 1, T("cfg.lora_r")),
            (self.lora_alpha > 0, T("cfg.lora_alpha")),
            (0 <= self.lora_dropout < 1, T("cfg.lora_dropout")),
            (self.learning_rate > 0, T("cfg.learning_rate")),
            (self.batch_size >= 1, T("cfg.batch_size")),
            (self.grad_accum >= 1, T("cfg.grad_accum")),
            (self.max_steps > 0 or self.epochs > 0, T("cfg.steps")),
            (self.max_length >= 16, T("cfg.max_length")),
            (self.warmup_steps >= 0, T("cfg.warmup")),
            (0 <= self.eval_fraction < 0.5, T("cfg.eval_fraction")),
            (self.optimizer in OPTIMIZERS, T("cfg.optimizer", choices=", ".join(OPTIMIZERS))),
            (self.scheduler in SCHEDULERS, T("cfg.scheduler", choices=", ".join(SCHEDULERS))),
            (self.template in TEMPLATE_NAMES, T("cfg.template")),
            (self.train_on in TRAIN_ON, T("cfg.train_on")),
            (self.compute_dtype in ("auto", "bf16", "fp16", "fp32"), T("cfg.compute_dtype")),
            (bool(self.target_modules), T("cfg.target_modules")),
            (self.save_steps >= 1, T("cfg.save_steps")),
            (0 <= self.replay_share < 0.9, T("cfg.replay_share")),
            (self.replay_system in ("none", "persona"), T("cfg.replay_system")),
            (bool(self.data), T("cfg.data")),
            (self.num_processes >= 1, T("cfg.num_processes")),
            (self.num_machines >= 1, T("cfg.num_machines")),
            (self.strategy in STRATEGIES, T("cfg.strategy", choices=", ".join(STRATEGIES))),
        ]
        if n_examples is not None:
            train_n = n_examples - int(n_examples * self.eval_fraction)
            checks.append((self.batch_size <= train_n,
                           T("cfg.batch_vs_data", batch=self.batch_size, n=train_n)))
        for ok, message in checks:
            if not ok:
                raise StudioError("err.train_config.4", message=message)
