"""Synthetic data: any shape, seeded, balanced labels, and a learnable variant."""

from __future__ import annotations

import torch

import dastat.data as data


def test_shapes_balance_and_seed_replay():
    ds = data.load("synthetic", num_classes=7, num_images=70, image_size=12, seed=3)
    assert ds.images.shape == (70, 3, 12, 12) and ds.images.dtype == torch.uint8
    assert ds.labels.bincount().tolist() == [10] * 7 and ds.num_classes == 7
    again = data.load("synthetic", num_classes=7, num_images=70, image_size=12, seed=3)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.labels, again.labels)
    other = data.load("synthetic", num_classes=7, num_images=70, image_size=12, seed=4)
    assert not torch.equal(ds.images, other.images)
    test = data.load("synthetic", split="test", num_classes=7, num_images=70, image_size=12, seed=3)
    assert not torch.equal(ds.images, test.images)


def test_learnable_task_is_solvable_by_nearest_template():
    # Classes share templates across splits, so nearest class-mean classification of the test
    # split from the train split must be far above chance (1/20): here it is essentially exact.
    kw = dict(num_classes=20, num_images=400, image_size=16, learnable=True, seed=1)
    train = data.load("synthetic", **kw)
    test = data.load("synthetic", split="test", **kw)
    means = torch.stack([train.images[train.labels == c].float().mean(0) for c in range(20)])
    pred = torch.cdist(test.images.float().flatten(1), means.flatten(1)).argmin(1)
    assert (pred == test.labels).float().mean() > 0.95


def test_unlearnable_noise_is_uniform():
    ds = data.load("synthetic", num_images=256, image_size=16)
    # Uniform on 0..255: mean 127.5/255 = 0.5, with standard error 0.289/sqrt(256*256) ~ 0.0011 per channel.
    for m in ds.mean:
        assert abs(m - 0.5) < 5 * 0.289 / 256
