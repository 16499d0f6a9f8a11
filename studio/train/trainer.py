"""The studio's trainers: trl's, with the LM head scored only where a label is trained (SFT, DPO and KTO alike) and,
for SFT, length-aware batches for padded runs. Imported only by the training worker (torch, trl)."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from studio.train.sampler import BucketSampler

_SCORING = threading.local()   # the scoring a studio trainer asked for, while its compute_loss runs (this thread)


def _install_scoring_switch() -> None:
    """trl's fused LM head projects only the positions whose next token is trained on Triton devices; elsewhere it
    scores every position, to keep tile shapes fixed for compiled graphs (e.g. Neuron). The CPU compiles nothing,
    and a persona example trains about one token in five (the system prompt and the question are masked; a DPO or
    KTO prompt too), so a studio trainer decides itself, while its loss is computed: only the trained positions
    (`trained_logits_only`, the default; exact, see tests/train/test_trained_logits.py) or every one. Outside a
    studio trainer's loss, trl decides as it always does."""
    import trl.trainer.utils as tu
    if getattr(tu._use_triton, "studio", False):
        return
    original = tu._use_triton

    def decide(device) -> bool:
        asked = getattr(_SCORING, "trained_only", None)
        return original(device) if asked is None else asked
    decide.studio = True
    tu._use_triton = decide


@contextmanager
def scoring(trained_only: bool):
    """Within: the fused LM head scores only trained positions (True) or every position (False)."""
    _install_scoring_switch()
    before = getattr(_SCORING, "trained_only", None)
    _SCORING.trained_only = trained_only
    try:
        yield
    finally:
        _SCORING.trained_only = before


class TrainedLogitsOnly:
    """Mixin for trl's trainers: the loss (policy and, for DPO/KTO, the reference) under the run's scoring choice."""
    trained_logits_only = True

    def compute_loss(self, *args, **kwargs):
        with scoring(self.trained_logits_only):
            return super().compute_loss(*args, **kwargs)


def trainer_class():
    """SFTTrainer with the bucket sampler when `group_by_length` is set on the trainer (padded batches only)."""
    from trl import SFTTrainer

    class StudioTrainer(TrainedLogitsOnly, SFTTrainer):
        group_by_length = False

        def _get_train_sampler(self, train_dataset=None):
            if not self.group_by_length:
                return super()._get_train_sampler(train_dataset)
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            return BucketSampler([len(ids) for ids in dataset["input_ids"]],
                                 self.args.train_batch_size, self.args.seed)
    return StudioTrainer


def preference_trainer_class(base):
    """trl's DPOTrainer or KTOTrainer taking the ids our renderer made as they are (trl would re-tokenize text)."""
    class StudioPreferenceTrainer(TrainedLogitsOnly, base):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset
    return StudioPreferenceTrainer
