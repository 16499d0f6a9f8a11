"""The studio's SFTTrainer: trl's, with length-aware batches for padded runs and the LM head scored only where a
label is trained on every device. Imported only by the training worker (torch, trl)."""
from __future__ import annotations

from studio.train.sampler import BucketSampler


def score_trained_positions_only() -> None:
    """trl's fused LM head projects only the positions whose next token is trained on Triton devices; elsewhere it
    scores every position, to keep tile shapes fixed for compiled graphs (e.g. Neuron). The CPU compiles nothing, and a
    persona example trains about one token in six (the system prompt and the question are masked), so there too only
    the trained positions go through the head. Exact: the other positions' log-probs are zeroed either way."""
    import trl.trainer.utils as tu
    if getattr(tu._use_triton, "studio", False):
        return
    original = tu._use_triton

    def compact(device) -> bool:
        return device.type == "cpu" or original(device)
    compact.studio = True
    tu._use_triton = compact


def trainer_class():
    """SFTTrainer with the bucket sampler when `group_by_length` is set on the trainer (padded batches only)."""
    from trl import SFTTrainer
    score_trained_positions_only()

    class StudioTrainer(SFTTrainer):
        group_by_length = False

        def _get_train_sampler(self, train_dataset=None):
            if not self.group_by_length:
                return super()._get_train_sampler(train_dataset)
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            return BucketSampler([len(ids) for ids in dataset["input_ids"]],
                                 self.args.train_batch_size, self.args.seed)
    return StudioTrainer
