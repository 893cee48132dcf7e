"""The dataset registry: every source listed, wildcards, and a new dataset is one decorated builder."""

from __future__ import annotations

import pytest
import torch

import dastat.data as data
from dastat.data.registry import DATASETS
from dastat.errors import UnknownNameError


def test_all_sources_listed():
    assert data.list_datasets() == ["cifar10", "cifar100", "digits", "fashion_mnist", "imagefolder", "kmnist", "mnist",
                                    "synthetic", "tinyimagenet"]
    assert data.list_datasets("cifar*") == ["cifar10", "cifar100"]


def test_register_a_new_dataset(monkeypatch):
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))

    @data.register("ones")
    def ones(root=None, split="train", image_size=None, seed=0, *, n: int = 4):
        return data.ImageTensorDataset(
            images=torch.ones(n, 3, 2, 2, dtype=torch.uint8),
            labels=torch.arange(n) % 2,
            classes=["a", "b"],
            mean=(0.0,) * 3,
            std=(1.0,) * 3,
            name="ones",
            split=split,
        )

    ds = data.load("ones", n=6, max_images=4)
    assert len(ds) == 4 and ds.labels.bincount().tolist() == [2, 2]
    with pytest.raises(UnknownNameError, match="Did you mean 'ones'"):
        data.load("onse")
