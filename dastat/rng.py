"""Explicit randomness: generators from seeds, and independent streams per purpose."""

from __future__ import annotations

import numbers
import zlib
from typing import TYPE_CHECKING

import numpy as np

from dastat.errors import InvalidArgumentError

if TYPE_CHECKING:  # torch is imported by the functions that make generators: derive_seed needs none
    import torch


def check_generator(seed: int | torch.Generator | None, device: str | torch.device = "cpu") -> torch.Generator:
    """Turn None / int / Generator into a torch.Generator on ``device``."""
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()  # fresh entropy; g.initial_seed() gives it back for the record
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        g.manual_seed(int(seed))
    else:
        raise InvalidArgumentError(f"seed must be an int >= 0, a torch.Generator or None; got {seed!r}")
    return g


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose, independent of every other purpose's."""
    # crc32, not hash(): str hashes change from one process to the next.
    child = np.random.SeedSequence([int(seed), zlib.crc32(purpose.encode())])
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """An independent generator for one purpose: "order", "base", "scheme:cutout", ..."""
    import torch

    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))
