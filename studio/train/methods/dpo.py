"""DPO on top of a finished run: pairs rendered by the one renderer with the parent's contract (prompt ids, chosen
and rejected ids, each ending on the end of turn), trl's DPOTrainer with the parent's adapter as the policy to train
and, frozen, as the reference."""
from __future__ import annotations

from studio.core.errors import StudioError
from studio.train.callbacks import RunFilesCallback
from studio.train.methods import METHODS
from studio.train.methods.preference import before_save, data_of, rendered, shared_args, starting_model  # noqa: F401
from studio.train.steps import Setup, TrainData

DEFAULT_LOSS = METHODS["dpo"].default_loss


def data(setup: Setup) -> TrainData:
    prefs, digest = rendered(setup)
    rows = [r for r in prefs.rows if r.label is None]
    if not rows:
        raise StudioError("err.prefs.too_few", n=0, need=1, skipped=prefs.skipped or "-")
    setup.cfg.validate(len(rows))
    return data_of(setup, {"prompt_ids": [r.prompt_ids for r in rows], "chosen_ids": [r.chosen_ids for r in rows],
                           "rejected_ids": [r.rejected_ids for r in rows]}, prefs, digest)


def trainer(setup: Setup, data: TrainData, model, lora):
    from trl import DPOConfig, DPOTrainer

    from studio.train.trainer import preference_trainer_class
    args = DPOConfig(**shared_args(setup), loss_type=(setup.cfg.loss_type or DEFAULT_LOSS).split("+"))
    trained = preference_trainer_class(DPOTrainer)(
        model=starting_model(setup, model), ref_model=None, args=args, train_dataset=data.train,
        processing_class=setup.tokenizer, callbacks=[RunFilesCallback(setup.run)])
    trained.trained_logits_only = setup.cfg.trained_logits_only
    return trained
