"""The input normalisation a teacher was trained with, by dataset (docs/method.md, "Models and checkpoints")."""

from __future__ import annotations

from dastat.errors import UnknownNameError

Stats = tuple[float, float, float]

CIFAR100: tuple[Stats, Stats] = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
CIFAR10: tuple[Stats, Stats] = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET: tuple[Stats, Stats] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

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
