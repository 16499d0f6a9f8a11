"""KTO on top of a finished run: ratings (and each pair as one good and one bad reply) rendered with the parent's
contract; trl's KTOTrainer with the parent's adapter trained and, frozen, as the reference. The KL estimate pairs
each prompt with another row's reply in the same batch, so batches are read in order and hold two rows or more."""
from __future__ import annotations

from studio.core.errors import StudioError
from studio.train.callbacks import RunFilesCallback
from studio.train.methods import METHODS
from studio.train.methods.preference import before_save, data_of, rendered, shared_args, starting_model  # noqa: F401
from studio.train.steps import Setup, TrainData

DEFAULT_LOSS = METHODS["kto"].default_loss


def data(setup: Setup) -> TrainData:
    import random
    prefs, digest = rendered(setup)
    rows = []
    for r in prefs.rows:
        if r.label is None:
            rows += [(r.prompt_ids, r.chosen_ids, True), (r.prompt_ids, r.rejected_ids, False)]
        else:
            rows.append((r.prompt_ids, r.completion_ids, bool(r.label)))
    if len({label for *_, label in rows}) < 2:
        raise StudioError("err.prefs.one_label")
    random.Random(setup.cfg.seed).shuffle(rows)  # read in order (sequential sampling): mixed once, here
    setup.cfg.validate(len(rows))
    batch = max(setup.cfg.batch_size, 2)
    completions = [c for _, c, _ in rows]
    kl = []  # each batch's completions rotated by one: the mismatched pairs trl's KL estimate expects
    for start in range(0, len(rows), batch):
        chunk = completions[start:start + batch]
        kl += chunk[-1:] + chunk[:-1]
    return data_of(setup, {"prompt_ids": [p for p, _, _ in rows], "completion_ids": completions,
                           "KL_completion_ids": kl, "label": [lab for *_, lab in rows]}, prefs, digest)


def trainer(setup: Setup, data: TrainData, model, lora):
    from trl import KTOConfig, KTOTrainer

    from studio.train.trainer import preference_trainer_class
    args = KTOConfig(**shared_args(setup), loss_type=setup.cfg.loss_type or DEFAULT_LOSS,
                     train_sampling_strategy="sequential")
    trained = preference_trainer_class(KTOTrainer)(  # ids and KL pairs already made by our renderer
        model=starting_model(setup, model), ref_model=None, args=args, train_dataset=data.train,
        processing_class=setup.tokenizer, callbacks=[RunFilesCallback(setup.run)])
    trained.trained_logits_only = setup.cfg.trained_logits_only
    return trained
