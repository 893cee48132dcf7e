"""Flip, crop, flip_crop and identity: per-sample i.i.d. decisions, batch mode, uniform offsets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import dastat.augment as A

ALPHA = 1e-3  # significance level: a correct sampler fails one such test in a thousand runs
SEEDS = 1000


def _images(b=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)


def _flip_decisions(scheme, x):
    decisions = []
    for seed in range(SEEDS):
        y = scheme(x, generator=torch.Generator().manual_seed(seed))
        flipped = (y == x.flip(-1)).flatten(1).all(1)
        kept = (y == x).flatten(1).all(1)
        assert torch.all(flipped ^ kept)  # every image is either untouched or mirrored
        decisions.append(flipped)
    return torch.stack(decisions).numpy()  # [SEEDS, B]


def test_flip_is_binomial_half_per_image_and_independent_of_neighbours():
    x = _images()
    d = _flip_decisions(A.get("flip"), x)
    bonferroni = ALPHA / d.shape[1]
    for i in range(d.shape[1]):
        assert stats.binomtest(int(d[:, i].sum()), SEEDS, 0.5).pvalue > bonferroni
    for i in range(d.shape[1] - 1):
        table = np.histogram2d(d[:, i], d[:, i + 1], bins=2)[0]
        assert stats.chi2_contingency(table).pvalue > bonferroni


def test_flip_batch_mode_shares_one_decision_per_batch():
    x = _images()
    d = _flip_decisions(A.get("flip", randomness="batch"), x)
    assert np.all(d == d[:, :1])
    assert stats.binomtest(int(d[:, 0].sum()), SEEDS, 0.5).pvalue > ALPHA


@pytest.mark.parametrize(("size", "pad"), [(32, 4), (64, 8)])
def test_crop_offsets_uniform_over_all_positions_and_pixels_match(size, pad):
    scheme = A.get("crop", image_size=size)
    assert scheme.pad == pad
    x = _images(b=4, size=size)
    tops, lefts = [], []
    padded = F.pad(x, (pad,) * 4)
    for seed in range(SEEDS // 4):  # 4 images a seed: 1000 offsets
        y, p = scheme(x, generator=torch.Generator().manual_seed(seed), return_params=True)
        tops.append(p.top)
        lefts.append(p.left)
        if seed < 20:
            for i in range(4):
                t, left = int(p.top[i]), int(p.left[i])
                assert torch.equal(y[i], padded[i, :, t : t + size, left : left + size])
    for offsets in (torch.cat(tops), torch.cat(lefts)):
        counts = np.bincount(offsets.numpy(), minlength=2 * pad + 1)
        assert len(counts) == 2 * pad + 1
        assert stats.chisquare(counts).pvalue > ALPHA


def test_flip_crop_draws_flip_and_offsets_independently_per_image():
    scheme = A.get("flip_crop")
    x = _images(b=8)
    flips, tops = [], []
    for seed in range(SEEDS // 8):
        p = scheme.sample(x, torch.Generator().manual_seed(seed))
        flips.append(p.flipped)
        tops.append(p.top)
    flips, tops = torch.cat(flips).numpy(), torch.cat(tops).numpy()
    assert stats.binomtest(int(flips.sum()), len(flips), 0.5).pvalue > ALPHA
    table = np.array([[np.sum((flips == f) & (tops == t)) for t in range(9)] for f in (0, 1)])
    assert stats.chi2_contingency(table).pvalue > ALPHA


def test_crop_batch_mode_shares_one_offset():
    p = A.get("flip_crop", randomness="batch").sample(_images(), torch.Generator().manual_seed(3))
    for t in p:
        assert torch.all(t == t[0])


def test_standard_is_flip_crop_with_size_scaled_padding():
    assert A.standard(32).pad == 4 and A.standard(64).pad == 8
    assert A.standard(32).name == "flip_crop"
    assert A.standard(32, randomness="batch").randomness == "batch"


def test_identity_is_bit_exact_and_a_copy():
    x = _images()
    y = A.get("identity")(x, generator=torch.Generator())
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()
