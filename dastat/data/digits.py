"""``digits``: scikit-learn's 1,797 handwritten 8x8 digits as 32x32 RGB, the embedded default.

The images ship inside scikit-learn (no download). Values 0..16 are scaled to 0..255,
upsampled with bilinear interpolation (``align_corners=False``) and copied to three channels.
The split is fixed: ``train_test_split(test_size=0.2, stratify=labels, random_state=0)``,
1,437 train and 360 test images. Mean/std come from the train split (both splits use them).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dastat.data.dataset import ImageTensorDataset
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS

NATIVE_SIZE = 32


@lru_cache(maxsize=4)
def _digits(image_size: int) -> tuple[Tensor, Tensor, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    grey = torch.from_numpy(bunch.images.astype(np.float64) * (255.0 / 16.0))  # [N, 8, 8] on 0..255
    up = F.interpolate(grey[:, None], size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = up.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=bunch.target, random_state=0)
    return images, labels, train_idx, test_idx


@DATASETS.register("digits")
def digits(root=None, split: str = "train", image_size: int | None = None, seed: int = 0) -> ImageTensorDataset:
    """scikit-learn's digits, upsampled to ``image_size`` (default 32) RGB; see the module docstring."""
    size = image_size or NATIVE_SIZE
    images, labels, train_idx, test_idx = _digits(size)
    mean, std = channel_stats(images[torch.from_numpy(train_idx)])
    idx = torch.from_numpy(train_idx if split == "train" else test_idx)
    return ImageTensorDataset(
        images=images[idx].clone(),
        labels=labels[idx].clone(),
        classes=[str(d) for d in range(10)],
        mean=mean,
        std=std,
        name="digits",
        split=split,
        source={
            "origin": "sklearn.datasets.load_digits",
            "upsampling": "bilinear, align_corners=False",
            "split_rule": "train_test_split(test_size=0.2, stratify=y, random_state=0)",
            "image_size": size,
        },
    )
