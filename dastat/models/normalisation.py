"""The input normalisation a teacher was trained with, by dataset (docs/method.md, "Models and checkpoints")."""

from __future__ import annotations

from dastat.constants import CIFAR10, CIFAR100, IMAGENET, Stats
from dastat.errors import UnknownNameError

#: RepDistiller's CIFAR teachers use CIFAR-100's statistics; Tiny ImageNet and ImageFolder
#: teachers (ImageNet-100, ImageNet) use ImageNet's.
BY_DATASET: dict[str, tuple[Stats, Stats]] = {
    "cifar100": CIFAR100,
    "cifar10": CIFAR10,
    "tinyimagenet": IMAGENET,
    "imagenet": IMAGENET,
    "imagefolder": IMAGENET,
}


def stats_for(dataset) -> tuple[Stats, Stats]:
    """``(mean, std)`` for a dataset name, or the dataset's own statistics for a loaded dataset."""
    if hasattr(dataset, "mean") and hasattr(dataset, "std"):
        return tuple(dataset.mean), tuple(dataset.std)
    if dataset not in BY_DATASET:
        raise UnknownNameError("dataset normalisation", dataset, BY_DATASET)
    return BY_DATASET[dataset]
