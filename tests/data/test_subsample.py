"""max_images: a seeded, class-stratified subsample recorded in .source."""

from __future__ import annotations

import pytest
import torch
from data_fakes import make_imagefolder

import dastat.data as data
from dastat.data import stratified_indices
from dastat.errors import InvalidArgumentError


def test_proportional_counts_and_largest_remainder():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_indices(labels, 10, seed=0)
    assert labels[idx].bincount().tolist() == [5, 3, 2]
    idx = stratified_indices(labels, 7, seed=0)  # exact shares 3.5, 2.1, 1.4 -> 3+2+1, leftover to class 0
    assert labels[idx].bincount().tolist() == [4, 2, 1]
    assert torch.equal(idx, idx.sort().values) and len(idx.unique()) == len(idx)


def test_seed_replay_and_difference():
    labels = torch.arange(1000) % 10
    a, b = stratified_indices(labels, 100, 1), stratified_indices(labels, 100, 1)
    c = stratified_indices(labels, 100, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(stratified_indices(labels, 5000, 1), torch.arange(1000))
    with pytest.raises(InvalidArgumentError, match="max_images"):
        stratified_indices(labels, 0)


def test_draw_is_uniform_within_a_class():
    # Each of 20 rows of one class is kept with probability 5/20; over 400 seeds a row's count is
    # Binomial(400, 0.25): mean 100, sd 8.7. All 20 rows within 5 sd of 100.
    labels = torch.zeros(20, dtype=torch.int64)
    counts = torch.zeros(20)
    for seed in range(400):
        counts[stratified_indices(labels, 5, seed)] += 1
    assert ((counts - 100).abs() < 5 * 8.66).all()


def test_load_records_subsample_and_is_stratified():
    ds = data.load("digits", max_images=100, seed=3)
    assert len(ds) == 100
    assert ds.source["max_images"] == 100 and ds.source["subsample_seed"] == 3 and ds.source["n_total"] == 1437
    full = data.load("digits")
    expect = full.labels.bincount().double() * 100 / 1437
    assert ((ds.labels.bincount().double() - expect).abs() < 1).all()
    assert torch.equal(ds.images, data.load("digits", max_images=100, seed=3).images)


def test_image_tree_decodes_only_the_subsample(tmp_path, monkeypatch):
    import dastat.data.images as images

    make_imagefolder(tmp_path, classes=("a", "b"), per_class=10)
    calls = []
    real = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ds = data.load("imagefolder", root=tmp_path, image_size=8, max_images=4, num_workers=0)
    assert len(calls) == 4 and ds.labels.tolist() == [0, 0, 1, 1]
