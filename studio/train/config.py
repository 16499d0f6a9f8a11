"""The training configuration: one dataclass, a comment per field, YAML round trip, validation naming the field."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from studio.core.errors import StudioError
from studio.core.settings import BadValue, Widget, coerce, declared_problem, kind_of, setting, shown_value
from studio.core.storage import YamlRefused, load_yaml
from studio.format.render import TRAIN_ON
from studio.format.templates import template_names
from studio.locale import T
from studio.train.methods import METHODS, all_losses, method_names

STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")
OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit", "adamw_torch")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
TRACKERS = ("auto", "none", "tensorboard", "wandb", "mlflow", "trackio")
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio"}
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _templates() -> tuple[str, ...]:
    return template_names()


def _methods() -> tuple[str, ...]:
    return method_names()


def _shown(kind: str, row: str, label: str = "", hint: str = "", **limits) -> Widget:
    return Widget(kind, row, label, hint, **limits)


@dataclass
class TrainConfig:
    """Every training setting, declared once (studio/core/settings.py): the CLI's flags, the YAML file's keys and the
    Train tab's widgets all come from these declarations."""
    # Shown in the Train tab, in this order: the order of its widgets, and so of the start_training API's inputs
    model: str = setting("default", group="data", ui=_shown("custom", "top", "train.model"),
                         help="local folder, hub id, 'default' (the embedded Gemma 3 270M) or 'smollm2' "
                              "(SmolLM2-135M-Instruct)", inherited=True)
    template: str = setting("model", group="data", choices=_templates, ui=_shown("custom", "top", "format.template"),
                            help=" | ".join(template_names()) + " ('model': the tokenizer's own chat template)",
                            inherited=True)
    max_steps: int = setting(60, group="optimisation", ui=_shown("int", "main", minimum=0),
                             at_least=0, help="training steps (> 0 wins over epochs)")
    learning_rate: float = setting(2e-4, group="optimisation", ui=_shown("number", "main"), above=0,
                                   help="peak learning rate")
    lora_r: int = setting(16, group="lora", ui=_shown("int", "main"), at_least=1, help="LoRA rank", inherited=True)
    batch_size: int = setting(2, group="optimisation", ui=_shown("int", "main"), at_least=1,
                              help="examples per step, per device")
    max_length: int = setting(1024, group="data", ui=_shown("int", "main"),
                              at_least=16, help="tokens per example; longer examples are truncated (the Doctor warns)",
                              inherited=True)
    load_in_4bit: bool = setting(True, group="quantization", ui=_shown("checkbox", "main", "train.4bit"),
                                 help="NF4 4-bit base weights (bitsandbytes)", inherited=True)
    lora_alpha: int = setting(16, group="lora", ui=_shown("int", "adv.lora"), above=0, help="LoRA scaling (alpha / r)",
    inherited=True)
    lora_dropout: float = setting(0.0, group="lora", ui=_shown("number", "adv.lora"), at_least=0, below=1,
                                  help="dropout on LoRA inputs", inherited=True)
    target_modules: list[str] = setting(group="lora", factory=lambda: list(DEFAULT_TARGETS),
                                        choices=tuple(DEFAULT_TARGETS), ui=_shown("choices", "adv.lora"),
                                        help="the linear layers that get LoRA adapters", inherited=True)
    use_rslora: bool = setting(False, group="lora", ui=_shown("checkbox", "adv.flags"), help="rank-stabilised LoRA",
    inherited=True)
    use_dora: bool = setting(False, group="lora", ui=_shown("checkbox", "adv.flags"),
                             help="weight-decomposed LoRA (DoRA)", inherited=True)
    gradient_checkpointing: bool = setting(False, group="optimisation", ui=_shown("checkbox", "adv.flags"),
                                           help="saves memory on big models; ~20%% slower")
    group_by_length: bool = setting(True, group="optimisation", ui=_shown("checkbox", "adv.flags"),
                                    help="padded batches: similar lengths together (less padding), random order")
    padding_free: bool = setting(True, group="optimisation", ui=_shown("checkbox", "adv.flags"),
                                 help="a batch's examples in one row, no padding (exact: see test_packing)")
    trained_logits_only: bool = setting(True, group="optimisation", ui=_shown("checkbox", "adv.flags"),
                                        help="the LM head scores only positions whose next token is trained "
                                             "(exact; off: every position, as plain trl on a CPU)")
    use_liger: bool = setting(False, group="optimisation", ui=_shown("checkbox", "adv.flags", hint="train.liger_hint"),
                              help="Liger fused kernels (CUDA + liger-kernel): no full logits in memory")
    double_quant: bool = setting(True, group="quantization", ui=_shown("checkbox", "adv.flags"),
                                 help="quantize the quantization constants too", inherited=True)
    grad_accum: int = setting(4, group="optimisation", ui=_shown("int", "adv.optim"),
                              at_least=1, help="effective batch = batch_size * grad_accum")
    epochs: float = setting(1.0, group="optimisation", ui=_shown("number", "adv.optim", hint="train.epochs_hint"),
                            at_least=0, help="passes over the data when max_steps is 0")
    warmup_steps: float = setting(5, group="optimisation", ui=_shown("number", "adv.optim"),
                                  at_least=0, help="steps (a float below 1 is a fraction of all steps)")
    scheduler: str = setting("linear", group="optimisation", choices=SCHEDULERS, ui=_shown("dropdown", "adv.optim"),
                             help="learning-rate schedule")
    weight_decay: float = setting(0.01, group="optimisation", ui=_shown("number", "adv.optim"), help="weight decay")
    optimizer: str = setting("adamw_8bit", group="optimisation", choices=OPTIMIZERS,
                             ui=_shown("dropdown", "adv.optim2"), help="optimizer (8-bit ones from bitsandbytes)")
    seed: int = setting(3407, group="optimisation", ui=_shown("int", "adv.optim2"), help="random seed")
    neftune_alpha: float | None = setting(None, group="optimisation",
                                          ui=_shown("number", "adv.optim2", hint="train.neftune_hint"),
                                          help="NEFTune noise (none or 0 = off)")
    eval_fraction: float = setting(0.0, group="saving", ui=_shown("number", "adv.optim2"),
                                   at_least=0, below=0.5, help="share of examples held out for eval loss (0 = none)")
    save_steps: int = setting(20, group="saving", ui=_shown("int", "adv.optim2"),
                              at_least=1, help="checkpoint every N steps (resume continues from the last one)")
    add_control_tokens: bool = setting(False, group="data", ui=_shown("checkbox", "adv.tokens", "train.add_tokens"),
                                       help="add missing template control tokens and train their embedding rows",
                                       inherited=True)
    # replay: the base model's answers to general prompts, mixed in so the character keeps general knowledge. The
    # recipes set 0.25, chosen by measurement; 0 here keeps older run configs as they were.
    replay_share: float = setting(0.0, group="replay",
                                  ui=_shown("slider", "replay", "train.replay_share", "train.replay_hint",
                                            minimum=0, maximum=0.8, step=0.05),
                                  at_least=0, below=0.9,
                                  help="share of training rows that are the base model's answers to general prompts "
                                       "(0 = off)")
    replay_system: str = setting("persona", group="replay", choices=("none", "persona"),
                                 ui=_shown("radio", "replay", "train.replay_system", "train.replay_sys_"),
                                 help="render replay rows with the persona's system prompt, or none")
    packing: bool = setting(False, group="optimisation",
                            ui=_shown("checkbox", "adv.packing", "train.packing", "train.packing_hint"),
                            help="fill rows of max length with whole examples (fewer, fuller steps)")
    # several processes (GPUs) or machines, through torch.distributed (torchrun's launcher); 1 = one process
    num_processes: int = setting(1, group="scale", ui=_shown("int", "scale", "train.num_processes", minimum=1),
                                 at_least=1,
                                 help="processes in all, one per GPU (CPU: gloo); batch size is per process")
    strategy: str = setting("ddp", group="scale", choices=STRATEGIES, ui=_shown("dropdown", "scale", "train.strategy"),
                            help="how the processes share the work (default ddp; README: what combines)")
    num_machines: int = setting(1, group="scale", ui=_shown("int", "scale", "train.num_machines", minimum=1),
                                at_least=1, help="machines taking part (each runs this command)")
    machine_rank: int = setting(0, group="scale", ui=_shown("int", "scale", "train.machine_rank", minimum=0),
                                at_least=0, help="this machine's rank (0 = the main machine)")
    main_address: str = setting("", group="scale", ui=_shown("text", "scale", "train.main_address"),
                                help="the main machine's address (several machines)")
    main_port: int = setting(0, group="scale", ui=_shown("int", "scale", "train.main_port", minimum=0),
                             at_least=0, below=65536,
                             help="its rendezvous port (default: any free port on one machine, 29500 on several)")
    allow_doctor_errors: bool = setting(False, group="data", ui=_shown("checkbox", "adv.tokens", "train.override"),
                                        help="launch despite Template Doctor errors")
    trust_remote_code: bool = setting(False, group="data", ui=_shown("checkbox", "adv.tokens", "format.remote_code"),
                                      help="run the model's own Python code (only for sources you trust)",
                                      inherited=True)
    report_to: str = setting("auto", group="saving", choices=TRACKERS, ui=_shown("dropdown", "adv.optim2",
                             "train.report_to", "train.report_to_hint"),
                             help="experiment tracker: auto (TensorBoard when installed; events in the run folder), "
                                  "none, tensorboard, wandb, mlflow or trackio (the last three only when chosen)")
    # how the run learns: from the persona table (sft), or from preferences on top of a finished run (dpo, kto)
    method: str = setting("sft", group="method", choices=lambda: _methods(), ui=_shown("radio", "method",
                          "train.method", "train.method_"),
                          help="sft (the persona table), or dpo / kto: preferences, starting from --from RUN")
    parent_run: str = setting("", group="method", ui=_shown("custom", "method", "train.parent_run"),
                              aliases=("--from",),
                              help="the finished run whose adapter a preference run starts from (its reference)",
                              preference=True)
    preferences: str = setting("", group="method", ui=_shown("text", "method", "train.preferences"),
                               help="preference file: the studio's votes, prompt/chosen/rejected rows, trl's "
                                    "conversational rows, or prompt/completion/label rows (kto)", preference=True)
    beta: float = setting(0.1, group="method", ui=_shown("number", "method", "train.beta", "train.beta_hint"),
                          above=0, help="how far a preference run may move from its parent (higher: less)",
                          preference=True)
    # "sigmoid+sft": DPO plus the chosen replies' own likelihood (RPO; trl sums the listed losses), which keeps the
    # chosen replies' end-of-turn likely while the margin grows
    loss_type: str = setting("", group="method", choices=all_losses,
                             ui=_shown("dropdown", "method", "train.loss_type"),
                             help="; ".join(f"{m.name}: {' | '.join(m.losses)}" for m in METHODS.values() if m.losses)
                             + " ('' = the method's default, the first)", preference=True)
    # Not in the Train tab (each says why); the CLI and run.yaml set them
    data: str = setting("", group="data", not_in_ui="the persona open in the Persona tab",
                        help="persona folder or CSV/TSV/JSONL file")
    system_prompt: str | None = setting(None, group="data", not_in_ui="the persona's system prompt (Persona tab)",
                                        help="overrides the persona's system prompt when set", inherited=True)
    train_on: str = setting("responses", group="data", choices=TRAIN_ON, not_in_ui="chosen in the Format tab",
                            help="responses | last | all", inherited=True)
    compute_dtype: str = setting("auto", group="quantization", choices=("auto", "bf16", "fp16", "fp32"),
                                 not_in_ui="chosen by the recipe for this device",
                                 help="auto (bf16 on CUDA if supported, else fp16; fp32 on CPU) | bf16 | fp16 | fp32",
                                 inherited=True)
    replay_prompts: str = setting("", group="replay", not_in_ui="a file of prompts: set it in run.yaml or the CLI",
                                  help="general prompts for replay (default: data/replay/general_prompts.txt)")
    logging_steps: int = setting(1, group="saving", not_in_ui="the loss plot needs every step",
                                 help="log loss every N steps")
    save_total_limit: int = setting(3, group="saving", not_in_ui="disk housekeeping: set it in run.yaml or the CLI",
                                    help="checkpoints kept")

    def to_yaml(self) -> str:
        from studio.core.storage import dump_yaml
        return dump_yaml(asdict(self))

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StudioError("err.config.unknown_settings", source=source, join=', '.join(unknown))
        cfg = cls()
        for k, v in data.items():
            try:
                setattr(cfg, k, coerce(cls, k, v))
            except BadValue:
                raise StudioError("err.config.wrong_type", source=source, k=k, type=T(f"cfg.kind.{kind_of(cls, k)}"),
                                  v=shown_value(v)) from None
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = load_yaml(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, YamlRefused, yaml.YAMLError) as e:
            raise StudioError("err.config.unreadable", path=path, reason=e) from None
        if not isinstance(data, dict):
            raise StudioError("err.config.not_mapping", path=path)
        return cls.from_dict(data, str(path))

    @property
    def needs_parent(self) -> bool:
        """A preference run: it starts from a finished run's adapter and learns from a preference file."""
        return self.method in METHODS and METHODS[self.method].needs_parent

    def _losses(self) -> tuple[str, ...]:
        return METHODS[self.method].losses if self.method in METHODS else ()

    def validate(self, n_examples: int | None = None) -> None:
        """Refuse invalid settings before launch, naming the field."""
        declared = declared_problem(self)   # each setting's own choices and range, from its declaration
        if declared is not None:
            raise StudioError("err.config.invalid", message=declared)
        checks = [   # rules between settings
            (self.max_steps > 0 or self.epochs > 0, T("cfg.steps")),
            (not self.needs_parent or bool(self.parent_run), T("cfg.parent_run")),
            (not self.needs_parent or bool(self.preferences), T("cfg.preferences")),
            (not self.loss_type or self.loss_type in self._losses(),
             T("cfg.loss_type", method=self.method, choices=", ".join(self._losses() or ("-",)))),
            (bool(self.target_modules), T("cfg.target_modules")),
            (bool(self.data), T("cfg.data")),
        ]
        if n_examples is not None:
            train_n = n_examples - int(n_examples * self.eval_fraction)
            checks.append((self.batch_size <= train_n,
                           T("cfg.batch_vs_data", batch=self.batch_size, n=train_n)))
        for ok, message in checks:
            if not ok:
                raise StudioError("err.config.invalid", message=message)


def run_settings(run) -> TrainConfig | None:
    """A run's settings (its config.yaml), None when it has none or they cannot be read."""
    try:
        return TrainConfig.load(run.config) if run.config.exists() else None
    except StudioError:
        return None


def trackers(cfg: TrainConfig) -> list[str]:
    """The trackers a run reports to: 'auto' is TensorBoard when it is installed (local files, no network), else
    none; a chosen one must be installed (refused before launch otherwise)."""
    import importlib.util
    if cfg.report_to == "none":
        return []
    if cfg.report_to == "auto":
        return ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    if importlib.util.find_spec(TRACKER_PACKAGES[cfg.report_to]) is None:
        raise StudioError("err.train.tracker_missing", tracker=cfg.report_to, package=TRACKER_PACKAGES[cfg.report_to])
    return [cfg.report_to]
