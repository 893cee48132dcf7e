"""The dataset registry: one decorated builder per source module."""

from __future__ import annotations

from dastat.registry import Registry

# A builder takes (root, split, image_size, seed, **options) and returns an ImageTensorDataset
# (small in-memory sources) or a FileSource (data on disk, which load() caches, subsamples or streams).
DATASETS = Registry("dataset")
