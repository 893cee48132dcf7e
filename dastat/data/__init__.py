"""Datasets as uint8 tensors [N,3,H,W] with int64 labels: ``dastat.data.load(name, ...)``.

Sources (one module each, registered by name): ``cifar100``, ``cifar10``, ``tinyimagenet``,
``imagefolder``, ``mnist``, ``fashion_mnist``, ``kmnist`` (IDX files), ``digits`` (the embedded
default) and ``synthetic``.
"""

from __future__ import annotations

# Importing a source module registers its datasets.
from dastat.data import cifar, digits, imagefolder, mnist, synthetic, tinyimagenet  # noqa: F401
from dastat.data.budget import parse_bytes
from dastat.data.cache import default_cache_dir
from dastat.data.dataset import ImageTensorDataset
from dastat.data.loading import list_datasets, load
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS
from dastat.data.streaming import StreamingImageDataset
from dastat.data.subsample import stratified_indices

# Adding a dataset is one decorated builder: ``@dastat.data.register("name")``.
register = DATASETS.register

__all__ = [
    "ImageTensorDataset",
    "StreamingImageDataset",
    "channel_stats",
    "default_cache_dir",
    "list_datasets",
    "load",
    "parse_bytes",
    "register",
    "stratified_indices",
]
