"""Supervised fine-tuning on the persona table: the one renderer makes input_ids and labels (replay rows included),
the Doctor checks them, and trl's SFTTrainer (ours: studio/train/trainer.py) learns from them as they are."""
from __future__ import annotations

from studio.core.errors import StudioError
from studio.core.findings import has_errors
from studio.format.formatting import add_control_tokens, missing_control_tokens, render_persona
from studio.train.callbacks import RunFilesCallback
from studio.train.replay import rows_for_run
from studio.train.steps import Setup, TrainData, common_args


def data(setup: Setup) -> TrainData:
    from datasets import Dataset

    cfg, tok, persona = setup.cfg, setup.tokenizer, setup.persona
    replay = rows_for_run(setup.run, cfg, persona, setup.where)
    result = render_persona(persona, tok, setup.settings, replay=replay)
    added = missing_control_tokens(result) if cfg.add_control_tokens else []
    if added:
        add_control_tokens(tok, added)
        result = render_persona(persona, tok, setup.settings, replay=replay)
    if has_errors(result.findings) and not cfg.allow_doctor_errors:
        codes = ", ".join(sorted({f.code for f in result.findings if f.severity == "error"}))
        raise StudioError("err.train.doctor_errors", codes=codes)
    examples = [r for r in result.renders if any(label != -100 for label in r.labels)]
    cfg.validate(len(examples))
    from studio.train.preflight import check_fused_kernels
    check_fused_kernels(cfg)   # again here: a resumed run may be on another machine
    ds = Dataset.from_dict({"input_ids": [r.input_ids for r in examples], "labels": [r.labels for r in examples]})
    eval_ds = None
    if cfg.eval_fraction > 0 and len(examples) >= 10:
        split = ds.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
        ds, eval_ds = split["train"], split["test"]
    return TrainData(ds, eval_ds, len(examples), replay, added)


def trainer(setup: Setup, data: TrainData, model, lora):
    from trl import SFTConfig

    from studio.train.trainer import trainer_class

    cfg = setup.cfg
    args = SFTConfig(
        **common_args(setup, data.eval is not None), neftune_noise_alpha=cfg.neftune_alpha,
        train_sampling_strategy="random",  # length grouping (padded batches only): our bucket sampler, below
        pad_to_multiple_of=None,
        # the renderer already cut every example to max_length; trl enforces it itself only for padded batches
        # (packing fills rows up to max_length with whole examples: best-fit decreasing, never cut)
        max_length=cfg.max_length if cfg.packing or not cfg.padding_free else None,
        padding_free=cfg.padding_free or cfg.packing,
        use_liger_kernel=cfg.use_liger, packing=cfg.packing, packing_strategy="bfd")
    trained = trainer_class()(model=model, args=args, train_dataset=data.train, eval_dataset=data.eval,
                              processing_class=setup.tokenizer, peft_config=lora,
                              callbacks=[RunFilesCallback(setup.run)])
    trained.group_by_length = cfg.group_by_length and not (cfg.padding_free or cfg.packing)
    trained.trained_logits_only = cfg.trained_logits_only
    return trained
