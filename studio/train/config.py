"""The training configuration: one dataclass, a comment per field, YAML round trip, validation naming the field."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from studio.errors import StudioError

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
    group_by_length: bool = True        # batch similar lengths together: less padding
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
            raise StudioError(f"{source}: unknown setting(s) {', '.join(unknown)}.")
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
                raise StudioError(f"{source}: {k} must be a {type(default).__name__}, not {v!r}.") from None
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise StudioError(f"Cannot read the config {path}: {e}") from None
        if not isinstance(data, dict):
            raise StudioError(f"{path}: expected a mapping of settings.")
        return cls.from_dict(data, str(path))

    def validate(self, n_examples: int | None = None) -> None:
        """Refuse invalid settings before launch, naming the field."""
        checks = [
            (self.lora_r >= 1, "lora_r (LoRA rank) must be at least 1"),
            (self.lora_alpha > 0, "lora_alpha must be positive"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.grad_accum >= 1, "grad_accum must be at least 1"),
            (self.max_steps > 0 or self.epochs > 0, "set max_steps or epochs above 0"),
            (self.max_length >= 16, "max_length must be at least 16 tokens"),
            (self.warmup_steps >= 0, "warmup_steps cannot be negative"),
            (0 <= self.eval_fraction < 0.5, "eval_fraction must be in [0, 0.5)"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.scheduler in SCHEDULERS, f"scheduler must be one of {', '.join(SCHEDULERS)}"),
            (self.template in ("llama2", "llama3", "model"), "template must be llama2, llama3 or model"),
            (self.train_on in ("responses", "last", "all"), "train_on must be responses, last or all"),
            (self.compute_dtype in ("auto", "bf16", "fp16", "fp32"), "compute_dtype must be auto, bf16, fp16 or fp32"),
            (bool(self.target_modules), "target_modules cannot be empty"),
            (self.save_steps >= 1, "save_steps must be at least 1"),
            (bool(self.data), "data: choose a persona"),
        ]
        if n_examples is not None:
            train_n = n_examples - int(n_examples * self.eval_fraction)
            checks.append((self.batch_size <= train_n,
                           f"batch_size {self.batch_size} is larger than the {train_n} training examples"))
        for ok, message in checks:
            if not ok:
                raise StudioError(f"Invalid setting: {message}.")
