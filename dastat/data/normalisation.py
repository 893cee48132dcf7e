"""Per-channel mean/std of uint8 images (the published ones are in ``dastat.constants``)."""

from __future__ import annotations

import torch
from torch import Tensor

from dastat.constants import Stats


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[Stats, Stats]:
    """Mean and (population) stddev of each channel on the 0..1 scale.

    Parameters
    ----------
    images : Tensor, uint8, shape [N, 3, H, W]
    chunk : int
        Images summed at a time, so the float copy stays small.

    Returns
    -------
    mean, std : tuple of 3 floats
    """
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
