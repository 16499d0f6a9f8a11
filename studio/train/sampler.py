"""Length-aware batching for padded batches: shuffle, cut into buckets, sort each bucket by length, cut it into
batches, then shuffle the batches (the one holding the longest example goes first, so a batch too big for memory
fails at step 1, not hours in). Padding stays small and the order stays random between buckets.

transformers' LengthGroupedSampler sorts mega-batches of 50 batches: a persona of a few hundred rows is then one
mega-batch, trained longest to shortest every epoch. No torch: the DataLoader takes any iterable of indices."""
from __future__ import annotations

import random
from collections.abc import Iterator

BUCKET_BATCHES = 8   # batches per bucket: enough for similar lengths, few enough to keep the order random


def bucket_batches(lengths: list[int], batch_size: int, seed: int, bucket_batches: int = BUCKET_BATCHES
                   ) -> list[list[int]]:
    """Indices in batches of `batch_size`, each cut from one length-sorted bucket; the batches in random order
    after the one with the longest example."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = max(1, batch_size * bucket_batches)
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        bucket = sorted(order[start:start + size], key=lambda i: -lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    if not batches:
        return []
    first = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
    rest = batches[:first] + batches[first + 1:]
    rng.shuffle(rest)
    return [batches[first], *rest]


class BucketSampler:
    """A torch Sampler of example indices (batched later by the DataLoader, sharded later by accelerate)."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        for batch in bucket_batches(self.lengths, self.batch_size, self.seed + self.epoch):
            yield from batch
