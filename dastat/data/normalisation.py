"""Per-channel mean/std of uint8 images, and the published constants."""

from __future__ import annotations

import torch
from torch import Tensor

Stats = tuple[float, float, float]

IMAGENET_MEAN: Stats = (0.485, 0.456, 0.406)
IMAGENET_STD: Stats = (0.229, 0.224, 0.225)


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
