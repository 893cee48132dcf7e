"""The embedded default: scikit-learn's digits as 32x32 RGB with a fixed stratified split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import dastat.data as data


@pytest.fixture(scope="module")
def splits():
    return data.load("digits", split="train"), data.load("digits", split="test")


def test_sizes_shapes_and_classes(splits):
    train, test = splits
    assert (len(train), len(test)) == (1437, 360)
    assert train.images.shape == (1437, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64
    assert train.classes == [str(d) for d in range(10)] and train.num_classes == 10
    assert train.name == "digits" and test.split == "test"


def test_split_is_stratified_disjoint_and_covers_all_images(splits):
    train, test = splits
    full = load_digits()
    counts = np.bincount(full.target, minlength=10)
    # 80/20 stratified: each class's test count is its 20% share rounded one way or the other.
    assert torch.all((test.labels.bincount(minlength=10) - torch.from_numpy(counts * 0.2)).abs() < 1)
    # Every real image appears exactly once over both splits (compare by the 8x8 source pixels).
    both = torch.cat([train.images, test.images])
    n_distinct = len(torch.unique(torch.from_numpy(full.data), dim=0))
    assert len(torch.unique(both.flatten(1), dim=0)) == n_distinct


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    # align_corners=False: output pixel i samples source coordinate (i + 0.5) * n_in / n_out - 0.5,
    # clamped to the edge, mixing its two neighbours linearly.
    a = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
        lo = int(np.floor(c))
        hi = min(lo + 1, n_in - 1)
        a[i, lo] += 1 - (c - lo)
        a[i, hi] += c - lo
    return a


def test_pixels_are_bilinear_upsampling_of_the_split_rule_images(splits):
    from sklearn.model_selection import train_test_split

    train, test = splits
    full = load_digits()
    train_idx, test_idx = train_test_split(
        np.arange(len(full.target)), test_size=0.2, stratify=full.target, random_state=0
    )
    a = _bilinear_matrix(8, 32)
    for ds, idx in ((train, train_idx), (test, test_idx)):
        assert torch.equal(ds.labels, torch.from_numpy(full.target[idx]))
        expect = a @ (full.images[idx] * 255 / 16) @ a.T  # [n, 32, 32]
        got = ds.images[:, 0].numpy().astype(np.float64)
        assert np.abs(got - expect).max() <= 0.5 + 1e-6  # rounding only
        assert torch.equal(ds.images[:, 0], ds.images[:, 1]) and torch.equal(ds.images[:, 0], ds.images[:, 2])


def test_mean_std_come_from_train_split_and_match_pixels(splits):
    train, test = splits
    x = train.images.double() / 255
    assert train.mean == pytest.approx(tuple(x.mean(dim=(0, 2, 3)).tolist()), abs=1e-12)
    assert train.std == pytest.approx(tuple(x.std(dim=(0, 2, 3), correction=0).tolist()), abs=1e-9)
    assert test.mean == train.mean and test.std == train.std


def test_load_is_deterministic_and_other_sizes_work():
    a, b = data.load("digits"), data.load("digits")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    small = data.load("digits", image_size=16, split="test")
    assert small.images.shape == (360, 3, 16, 16)
    assert torch.equal(small.labels, data.load("digits", split="test").labels)
