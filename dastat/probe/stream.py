"""Where each batch's images come from (docs/method.md, "Protocols").

``IndependentDraws`` (protocol ``fast``): every batch draws its images independently, with
replacement, from the pool, so batches, and the sets made of them, are independent whatever the
pool's size. ``EpochStream`` (protocol ``paper``): the reference's stream, the pool reshuffled every
epoch and cut into batches, the last short batch kept.

Every batch (fast) or set (paper) draws its randomness from generators seeded by (seed, purpose,
index), so any of them can be computed alone: ranks of a distributed run take disjoint ones, and
the result does not depend on how they were shared out.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dastat.rng import derive_seed


def generator_for(seed: int, purpose: str, device: torch.device) -> torch.Generator:
    """A generator for one purpose of one unit, e.g. ``"base:12"`` or ``"scheme:cutout:12"``."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))


class IndependentDraws:
    """Batches of ``batch_size`` image indices, each drawn independently with replacement from ``num_images``."""

    def __init__(self, num_images: int, batch_size: int, *, seed: int, device: torch.device):
        self.num_images, self.batch_size, self.seed, self.device = num_images, batch_size, seed, device

    def batch(self, index: int) -> Tensor:
        """The image indices of batch ``index`` (its own generator: ``draw:<index>``)."""
        g = generator_for(self.seed, f"draw:{index}", self.device)
        return torch.randint(self.num_images, (self.batch_size,), generator=g, device=self.device)


class EpochStream:
    """Index batches of a dataset of ``num_images``, reshuffled every epoch, last short batch kept."""

    def __init__(self, num_images: int, batch_size: int, *, seed: int, device: torch.device):
        self.num_images, self.batch_size, self.seed, self.device = num_images, batch_size, seed, device
        self.batches_per_epoch = math.ceil(num_images / batch_size)
        self._epoch, self._order = -1, None

    def batch(self, index: int) -> Tensor:
        """The image indices of global batch ``index`` (epochs run on, one after another)."""
        epoch, position = divmod(index, self.batches_per_epoch)
        if epoch != self._epoch:
            g = generator_for(self.seed, f"order:{epoch}", self.device)
            self._order = torch.randperm(self.num_images, generator=g, device=self.device)
            self._epoch = epoch
        start = position * self.batch_size
        return self._order[start : start + self.batch_size]
