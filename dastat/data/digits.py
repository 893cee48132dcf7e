"""``digits``: scikit-learn's 1,797 handwritten 8x8 digits as 32x32 RGB, the embedded default.

The images ship inside scikit-learn (no download). Values 0..16 are scaled to 0..255,
upsampled with bilinear interpolation (``align_corners=False``) and copied to three channels.
The split is fixed: ``train_test_split(test_size=0.2, stratify=labels, random_state=0)``,
1,437 train and 360 test images. Mean/std come from the train split (both splits use them).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dastat.data.dataset import ImageTensorDataset
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource

NATIVE_SIZE = 32


@lru_cache(maxsize=4)
def _digits(image_size: int) -> tuple[Tensor, Tensor, np.ndarray, np.ndarray, tuple, tuple]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    grey = torch.from_numpy(bunch.images.astype(np.float64) * (255.0 / 16.0))  # [N, 8, 8] on 0..255
    up = F.interpolate(grey[:, None], size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = up.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=bunch.target, random_state=0)
    mean, std = channel_stats(images[torch.from_numpy(train_idx)])
    return images, labels, train_idx, test_idx, mean, std


def _data_file() -> Path | None:
    # Found without importing scikit-learn (seconds), so a cached load skips that import entirely.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def _split(size: int, split: str) -> tuple[Tensor, Tensor, dict]:
    images, labels, train_idx, test_idx, mean, std = _digits(size)
    idx = torch.from_numpy(train_idx if split == "train" else test_idx)
    return images[idx].clone(), labels[idx].clone(), {"mean": mean, "std": std}


@DATASETS.register("digits")
def digits(
    root=None, split: str = "train", image_size: int | None = None, seed: int = 0
) -> FileSource | ImageTensorDataset:
    """scikit-learn's digits, upsampled to ``image_size`` (default 32) RGB; see the module docstring."""
    size = image_size or NATIVE_SIZE
    classes = [str(d) for d in range(10)]
    info = {
        "origin": "sklearn.datasets.load_digits",
        "upsampling": "bilinear, align_corners=False",
        "split_rule": "train_test_split(test_size=0.2, stratify=y, random_state=0)",
        "image_size": size,
    }
    path = _data_file()
    if path is not None:  # cacheable like any file-backed dataset
        return FileSource(
            name="digits",
            split=split,
            root=path.parent,
            classes=classes,
            mean=None,
            std=None,
            params={"image_size": size, "sklearn": version("scikit-learn"), "rule": info["split_rule"]},
            files=[path],
            decode_all=lambda: _split(size, split),
            info=info,
        )
    images, labels, stats = _split(size, split)
    return ImageTensorDataset(
        images=images, labels=labels, classes=classes, name="digits", split=split, source=info, **stats
    )
