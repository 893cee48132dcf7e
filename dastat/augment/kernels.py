"""Deterministic pixel kernels: parameters in, images out; no randomness, no checks, any device.

Every kernel takes uint8 images [B, 3, H, W] and per-image parameters with a leading B axis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _select_images(chosen: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Image i of ``a`` where ``chosen[i]``, else of ``b``; both contiguous, same shape."""
    # A bitwise select over the widest integer view the image size allows: torch.where on
    # uint8 is several times slower on CPU than one xor/and/xor pass over 8-byte words.
    n = a[0].numel()
    word = next(dt for dt, size in ((torch.int64, 8), (torch.int32, 4), (torch.int16, 2), (torch.uint8, 1))
                if n % size == 0)
    wide_a, wide_b = a.reshape(len(a), -1).view(word), b.reshape(len(b), -1).view(word)
    mask = chosen.to(word)[:, None].neg_()  # all bits set where chosen
    return wide_a.bitwise_xor(wide_b).bitwise_and_(mask).bitwise_xor_(wide_b).view(torch.uint8).view(a.shape)


def flip(images: Tensor, flipped: Tensor) -> Tensor:
    """Mirror left-right the images where ``flipped`` [B] (bool) is True."""
    images = images.contiguous()
    return _select_images(flipped, images.flip(-1), images)


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
    """[B, 1, H, W] uint8, 255 inside rows [top, bottom) x columns [left, right), else 0."""
    rows = torch.arange(h, device=top.device)
    cols = torch.arange(w, device=top.device)
    in_rows = ((rows >= top[:, None]) & (rows < bottom[:, None])).to(torch.uint8).neg_()  # [B, H]
    in_cols = ((cols >= left[:, None]) & (cols < right[:, None])).to(torch.uint8).neg_()  # [B, W]
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


# Boxes are pasted with bitwise selects, out = x ^ ((other ^ x) & mask): on CPU several times
# faster than torch.where over uint8, and the same on GPU.


def erase_boxes(
    images: Tensor, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor, fill: tuple[int, int, int] | None
) -> Tensor:
    """Paint rows [top, bottom) x columns [left, right) of each image with ``fill`` (black if None)."""
    mask = _box_mask(images.shape[-2], images.shape[-1], top, bottom, left, right)
    colour = torch.tensor(fill or (0, 0, 0), dtype=images.dtype, device=images.device)[None, :, None, None]
    return images.bitwise_xor(colour).bitwise_and_(mask).bitwise_xor_(images)


def paste_boxes(
    images: Tensor, partner: Tensor, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor
) -> Tensor:
    """Copy rows [top, bottom) x columns [left, right) of image ``partner[i]`` into image i (CutMix)."""
    mask = _box_mask(images.shape[-2], images.shape[-1], top, bottom, left, right)
    # index_select, not images[partner]: a block copy per image instead of per-element indexing
    return images.index_select(0, partner).bitwise_xor_(images).bitwise_and_(mask).bitwise_xor_(images)


def blend(images: Tensor, partner: Tensor, lam: Tensor) -> Tensor:
    """``round(lam·x + (1 − lam)·x[partner])`` per image (Mixup), back to uint8.

    Rounds to the nearest value where the reference truncates floats (a documented deviation,
    < 0.5/255 per pixel: docs/method.md, "Deviations from the reference code").
    """
    weight = lam.to(device=images.device, dtype=torch.float32)[:, None, None, None]
    # lerp: other + weight·(x − other) in one pass; stays within [0, 255], so no clamp is needed
    mixed = images.index_select(0, partner).float().lerp_(images.float(), weight).round_()
    return mixed.to(torch.int16).to(torch.uint8)  # via int16: float -> uint8 directly is slow on CPU
