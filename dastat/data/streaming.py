"""A dataset too large for memory: uint8 batches decoded from disk by DataLoader worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from dastat.data.dataset import ImageTensorDataset, LabelledBatches
from dastat.errors import DastatError, DataError


class Reader(Protocol):
    """Where a streaming dataset's pixels come from (must pickle, for worker processes)."""

    image_hw: tuple[int, int]

    def __len__(self) -> int: ...

    def read(self, rows: list[int]) -> Tensor: ...


class _Batches(Dataset):
    """One item = one whole batch, so each worker decodes a batch and sends one tensor back."""

    def __init__(self, reader: Reader, batches: list[list[int]]):
        self.reader, self.batches = reader, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Tensor | DastatError:
        try:
            return self.reader.read(self.batches[i])
        except DastatError as exc:  # hand it back whole: DataLoader would re-wrap its message
            return exc


def default_workers() -> int:
    """Worker processes for decoding: up to 4, never more than the CPUs this process may use."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def read_rows(reader: Reader, batches: list[list[int]], num_workers: int, prefetch: int = 2) -> Iterator[Tensor]:
    """Decode ``batches`` of reader rows in order, in ``num_workers`` processes (0: this one)."""
    if num_workers == 0 or len(batches) <= 1:
        for rows in batches:
            yield reader.read(rows)
        return
    loader = DataLoader(
        _Batches(reader, batches),
        batch_size=None,
        shuffle=False,
        num_workers=min(num_workers, len(batches)),
        prefetch_factor=prefetch,
    )
    for out in loader:
        if isinstance(out, DastatError):
            raise out
        yield out


@dataclass
class StreamingImageDataset(LabelledBatches):
    """Like :class:`ImageTensorDataset`, but the images stay on disk until a batch is asked for.

    Labels, classes and mean/std are in memory; pixels are decoded per batch by ``num_workers``
    DataLoader worker processes. ``iter_batches`` yields the same (images, labels) batches as
    ``ImageTensorDataset.iter_batches`` does for the same data and generator.

    Attributes
    ----------
    reader : Reader
        Decodes rows (image files, or a memory-mapped cache file).
    rows : Tensor, int64, shape [N]
        Which reader rows make up this dataset, in order.
    labels : Tensor, int64, shape [N]
    classes, mean, std, name, split, source : as in ImageTensorDataset
    num_workers : int
        Decoding processes (0 decodes in the calling process).
    """

    reader: Reader
    rows: Tensor
    labels: Tensor
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    split: str = "train"
    source: dict = field(default_factory=dict)
    num_workers: int = 0
    target_device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self):
        self._check_labels(len(self.rows))

    @property
    def image_size(self) -> int:
        return int(self.reader.image_hw[-1])

    @property
    def device(self) -> torch.device:
        return self.target_device

    @property
    def index_device(self) -> torch.device:
        return torch.device("cpu")  # rows are picked on the host, where the reader decodes them

    @property
    def nbytes(self) -> int:
        """Decoded size of all images in bytes (uint8)."""
        h, w = self.reader.image_hw
        return len(self) * 3 * h * w

    @property
    def images(self) -> Tensor:
        raise DataError(
            f"{self.name} ({self.split}) is a streaming dataset of {len(self)} images "
            f"({self.nbytes / 2**30:.1f} GiB decoded), larger than the memory budget, so it has no "
            "in-memory .images. Iterate it with .iter_batches(batch_size, generator), or load a "
            "subsample with max_images=N, or raise max_memory= / $DASTAT_MAX_MEMORY."
        )

    def to(self, device: str | torch.device) -> StreamingImageDataset:
        """The same dataset, yielding its batches on ``device``."""
        return replace(self, target_device=torch.device(device))

    def subset(self, index: Tensor) -> StreamingImageDataset:
        """The images at ``index`` (a 1-D int64 tensor), still streaming."""
        index = index.cpu()
        return replace(self, rows=self.rows[index], labels=self.labels[index])

    def iter_batches(
        self, batch_size: int, generator: torch.Generator | None = None, *, drop_last: bool = False
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of (images uint8 [b,3,H,W], labels int64 [b]) on ``self.device``."""
        index = list(self.batches(batch_size, generator, drop_last=drop_last))
        rows = [self.rows[i].tolist() for i in index]
        non_blocking = self.target_device.type == "cuda"
        for i, images in zip(index, read_rows(self.reader, rows, self.num_workers)):
            yield (
                images.to(self.target_device, non_blocking=non_blocking),
                self.labels[i].to(self.target_device),
            )

    def materialize(self, batch_size: int = 256) -> ImageTensorDataset:
        """Decode everything into an in-memory :class:`ImageTensorDataset` (mind the memory)."""
        images = torch.empty(len(self), 3, *self.reader.image_hw, dtype=torch.uint8)
        start = 0
        for batch, _ in self.to("cpu").iter_batches(batch_size):
            images[start : start + len(batch)] = batch
            start += len(batch)
        return ImageTensorDataset(
            images=images.to(self.target_device),
            labels=self.labels.to(self.target_device),
            classes=list(self.classes),
            mean=self.mean,
            std=self.std,
            name=self.name,
            split=self.split,
            source={**self.source, "streaming": False},
        )
