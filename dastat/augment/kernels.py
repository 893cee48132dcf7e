"""Deterministic pixel kernels: parameters in, images out; no randomness, no checks, any device.

Every kernel takes uint8 images [B, 3, H, W] and per-image parameters with a leading B axis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def flip(images: Tensor, flipped: Tensor) -> Tensor:
    """Mirror left-right the images where ``flipped`` [B] (bool) is True."""
    return torch.where(flipped[:, None, None, None], images.flip(-1), images)


def crop_flip(images: Tensor, top: Tensor, left: Tensor, flipped: Tensor | None, pad: int) -> Tensor:
    """Crop each image from its zero-padded copy at (top, left), then mirror where ``flipped``.

    ``top`` and ``left`` [B] int64 are offsets into the image padded by ``pad`` on every side
    (0 .. 2·pad). Crop and flip are one gather through a per-image index map, so the cost
    does not depend on how many distinct offsets the batch holds.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images  # zero, as the reference's RandomCrop
    wp = w + 2 * pad
    rows = top[:, None] + torch.arange(h, device=images.device)  # [B, H]
    cols = torch.arange(w, device=images.device).expand(b, w)  # [B, W]
    if flipped is not None:
        cols = torch.where(flipped[:, None], (w - 1) - cols, cols)
    cols = cols + left[:, None]
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w)  # [B, 1, H*W]
    return padded.reshape(b, c, -1).gather(2, index.expand(b, c, h * w)).reshape(b, c, h, w)


def _box_mask(h: int, w: int, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor) -> Tensor:
    rows = torch.arange(h, device=top.device)
    cols = torch.arange(w, device=top.device)
    in_rows = (rows >= top[:, None]) & (rows < bottom[:, None])  # [B, H]
    in_cols = (cols >= left[:, None]) & (cols < right[:, None])  # [B, W]
    return in_rows[:, None, :, None] & in_cols[:, None, None, :]  # [B, 1, H, W]


def erase_boxes(
    images: Tensor, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor, fill: tuple[int, int, int] | None
) -> Tensor:
    """Paint rows [top, bottom) x columns [left, right) of each image with ``fill`` (black if None)."""
    mask = _box_mask(images.shape[-2], images.shape[-1], top, bottom, left, right)
    colour = torch.tensor(fill or (0, 0, 0), dtype=images.dtype, device=images.device)[None, :, None, None]
    return torch.where(mask, colour, images)


def paste_boxes(
    images: Tensor, partner: Tensor, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor
) -> Tensor:
    """Copy rows [top, bottom) x columns [left, right) of image ``partner[i]`` into image i (CutMix)."""
    mask = _box_mask(images.shape[-2], images.shape[-1], top, bottom, left, right)
    return torch.where(mask, images[partner], images)


def blend(images: Tensor, partner: Tensor, lam: Tensor) -> Tensor:
    """``round(lam·x + (1 − lam)·x[partner])`` per image (Mixup), back to uint8.

    Rounds to the nearest value where the reference truncates floats (SPEC §1's documented
    deviation, < 0.5/255 per pixel).
    """
    weight = lam.to(device=images.device, dtype=torch.float32)[:, None, None, None]
    # lerp: other + weight·(x − other) in one pass; stays within [0, 255], so no clamp is needed
    return images[partner].float().lerp_(images.float(), weight).round_().to(torch.uint8)
