"""Which images go into which step, at what size, with what noise: a pure function of (seed, step).

Making the whole schedule a function of the seed and the global step is what makes two promises cheap
to keep: resuming after a crash continues with exactly the batches, noise and timesteps the
uninterrupted run would have used, and N processes with batch b see exactly the samples one process
with batch N*b sees (each takes its slice of the same global batch).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

STEP_SEED_MULTIPLIER = 1_000_003


def bucket_size(width: int, height: int, resolution: int, step: int, enabled: bool) -> tuple[int, int]:
    """Training size (w, h) for an image: a square, or the aspect bucket of area <= resolution^2 nearest its shape."""
    if not enabled:
        return resolution, resolution
    step = min(step, resolution)
    area = resolution * resolution
    ratio = width / height
    bucket_w = max(step, int(math.sqrt(area * ratio)) // step * step)
    bucket_h = max(step, int(area / bucket_w) // step * step)
    return bucket_w, bucket_h


@dataclass(frozen=True)
class Layout:
    """How a global batch is split: processes x per-device batch x accumulation micro-steps."""

    batch_size: int
    processes: int = 1
    accumulation: int = 1

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.processes * self.accumulation

    def slice(self, batch: list[int], rank: int, micro_step: int) -> list[int]:
        """The samples of ``batch`` (a global batch) that process ``rank`` trains on in ``micro_step``."""
        start = (micro_step * self.processes + rank) * self.batch_size
        return batch[start:start + self.batch_size]


class DataOrder:
    """Per-epoch batches: samples grouped by bucket, shuffled with (seed, epoch), padded to whole global batches.

    A bucket whose sample count is not a multiple of the global batch is padded by wrapping around its
    own shuffled list, so every step has a full batch of one size (needed for data parallelism).
    """

    def __init__(self, item_buckets: list[tuple[int, int]], repeats: list[int], layout: Layout, seed: int) -> None:
        if not item_buckets:
            raise ValueError("no training images")
        self.layout = layout
        self.seed = seed
        self.groups: dict[tuple[int, int], list[int]] = {}
        for index, (bucket, count) in enumerate(zip(item_buckets, repeats)):
            self.groups.setdefault(bucket, []).extend([index] * count)
        size = layout.global_batch
        self.steps_per_epoch = sum(math.ceil(len(samples) / size) for samples in self.groups.values())
        self._epoch_cache: tuple[int, list[list[int]]] | None = None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1]
        rng = random.Random(self.seed * STEP_SEED_MULTIPLIER + epoch)
        size = self.layout.global_batch
        batches: list[list[int]] = []
        for bucket in sorted(self.groups):
            samples = list(self.groups[bucket])
            rng.shuffle(samples)
            count = math.ceil(len(samples) / size)
            padded = [samples[i % len(samples)] for i in range(count * size)]
            batches.extend(padded[i * size:(i + 1) * size] for i in range(count))
        rng.shuffle(batches)
        self._epoch_cache = (epoch, batches)
        return batches

    def batch(self, step: int) -> tuple[int, list[int]]:
        """(epoch, global batch of item indices) for the 0-based optimizer ``step``."""
        epoch, index = divmod(step, self.steps_per_epoch)
        return epoch, self.epoch_batches(epoch)[index]


def step_seed(seed: int, step: int) -> int:
    """Seed of the noise/timestep generator of one optimizer step."""
    return (seed * STEP_SEED_MULTIPLIER + step + 1) % (2**63 - 1)


def total_steps(steps_per_epoch: int, epochs: int, max_steps: int | None) -> int:
    return max_steps if max_steps is not None else steps_per_epoch * epochs
