"""The one in-memory dataset type: uint8 images [N,3,H,W] and int64 labels [N]."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from dastat.checks import check_images, check_int
from dastat.errors import DataError


class LabelledBatches:
    """What both dataset types share: checked labels, length, class count and shuffled index batches.

    Subclasses are dataclasses with ``labels``, ``classes`` and ``name`` fields; the index batches
    live on ``index_device``.
    """

    labels: Tensor
    classes: list[str]
    name: str

    def _check_labels(self, n: int) -> None:
        if self.labels.dtype != torch.int64 or self.labels.ndim != 1 or len(self.labels) != n:
            raise DataError(
                f"{self.name}: labels must be int64 [N] with N = {n}; "
                f"got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def index_device(self) -> torch.device:
        raise NotImplementedError

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, *, drop_last: bool = False
    ) -> Iterator[Tensor]:
        """One epoch of index batches; shuffled with ``generator`` when given (drawn on its device)."""
        check_int(batch_size, "batch_size", low=1)
        n = len(self)
        if generator is None:
            order = torch.arange(n, device=self.index_device)
        else:
            order = torch.randperm(n, generator=generator, device=generator.device).to(self.index_device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield order[start : start + batch_size]


@dataclass
class ImageTensorDataset(LabelledBatches):
    """Images, labels and what a model needs to read them.

    Attributes
    ----------
    images : Tensor, uint8, shape [N, 3, H, W]
    labels : Tensor, int64, shape [N]
    classes : list of str, one name per class (``len(classes)`` is the class count)
    mean, std : per-channel normalisation on the 0..1 scale (the dataset's own statistics)
    name : the dataset's registry name, e.g. ``"cifar100"``
    split : ``"train"`` or ``"test"``
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    split: str = "train"
    source: dict = field(default_factory=dict)  # where it came from (root, cache file, subsample seed)

    def __post_init__(self):
        check_images(self.images, "images")
        self._check_labels(len(self.images))

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def index_device(self) -> torch.device:
        return self.device

    def to(self, device: str | torch.device) -> ImageTensorDataset:
        """The same dataset with images and labels on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def subset(self, index: Tensor) -> ImageTensorDataset:
        """The images at ``index`` (a 1-D int64 tensor)."""
        return replace(self, images=self.images[index], labels=self.labels[index])

    def iter_batches(
        self, batch_size: int, generator: torch.Generator | None = None, *, drop_last: bool = False
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of (images uint8 [b,3,H,W], labels int64 [b]) batches on the data's device.

        The same call on a ``StreamingImageDataset`` of the same data yields the same batches,
        so code downstream can take either type.
        """
        for index in self.batches(batch_size, generator, drop_last=drop_last):
            yield self.images[index], self.labels[index]
