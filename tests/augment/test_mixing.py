"""Mixup and CutMix: λ distributions (KS), derangement pairing, exact pasted area."""

import numpy as np
import pytest
import torch
from scipy import stats

import dastat.augment as A
from dastat.augment import sampling

ALPHA = 1e-3


def _constant_images(b=8, size=32):
    # image i is all value 10·i: the source of every output pixel is readable
    return (torch.arange(b, dtype=torch.uint8) * 10)[:, None, None, None].expand(b, 3, size, size).clone()


def _random_images(b=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("shape", [(1.0, 1.0), (0.4, 0.4), (2.0, 2.0), (0.7, 3.0)])
def test_beta_sampler_matches_beta_distribution(shape):
    draws = sampling.beta(*shape, 4000, torch.Generator().manual_seed(0)).numpy()
    assert stats.kstest(draws, "beta", args=shape).pvalue > ALPHA


def test_derangement_never_fixes_a_point_and_partners_are_uniform():
    partners_of_0 = []
    for seed in range(1000):
        partner = sampling.derangement(6, torch.Generator().manual_seed(seed))
        assert torch.all(partner != torch.arange(6))
        assert sorted(partner.tolist()) == list(range(6))
        partners_of_0.append(int(partner[0]))
    counts = np.bincount(partners_of_0, minlength=6)
    assert counts[0] == 0 and stats.chisquare(counts[1:]).pvalue > ALPHA


def test_mixup_lambda_is_uniform_and_pixels_are_the_rounded_blend():
    scheme = A.get("mixup")
    x = _random_images()
    lams = []
    for seed in range(250):  # 2000 λ
        y, p = scheme(x, generator=torch.Generator().manual_seed(seed), return_params=True)
        assert torch.all(p.partner != torch.arange(len(x)))
        if seed < 10:
            want = p.lam[:, None, None, None] * x.double() + (1 - p.lam[:, None, None, None]) * x[p.partner].double()
            assert (y.double() - want).abs().max() <= 0.5 + 1e-4
        lams.append(p.lam)
    lam = torch.cat(lams).numpy()
    assert stats.kstest(lam, "uniform").pvalue > ALPHA
    # neighbouring images draw independent λ
    assert abs(stats.pearsonr(lam[:-1:2], lam[1::2]).statistic) < 4 / np.sqrt(len(lam) / 2)


def test_mixup_batch_mode_shares_lambda_but_not_pairing():
    p = A.get("mixup", randomness="batch").sample(_random_images(), torch.Generator().manual_seed(0))
    assert torch.all(p.lam == p.lam[0])
    assert torch.all(p.partner != torch.arange(8))


def _reference_pasted_fraction(rng, n, size=32):
    # rand_bbox of the CutMix authors' code (clovaai/CutMix-PyTorch), with numpy's own RNG
    out = []
    for _ in range(n):
        lam = rng.beta(1.0, 1.0)
        cut = int(size * np.sqrt(1.0 - lam))
        cx, cy = rng.integers(size), rng.integers(size)
        x1, x2 = np.clip(cx - cut // 2, 0, size), np.clip(cx + cut // 2, 0, size)
        y1, y2 = np.clip(cy - cut // 2, 0, size), np.clip(cy + cut // 2, 0, size)
        out.append((x2 - x1) * (y2 - y1) / size**2)
    return np.array(out)


def test_cutmix_lambda_uniform_correction_exact_and_area_as_rand_bbox():
    scheme = A.get("cutmix")
    x = _constant_images()
    lams, pasted = [], []
    for seed in range(250):  # 2000 boxes
        y, p = scheme(x, generator=torch.Generator().manual_seed(seed), return_params=True)
        assert torch.all(p.partner != torch.arange(len(x)))
        own = (y == x).flatten(1).float().mean(1)  # [B]
        from_partner = (y == x[p.partner]).flatten(1).float().mean(1)
        assert torch.allclose(own + from_partner, torch.ones(len(x)))  # nothing else appears
        assert torch.allclose(own.double(), p.lam_corrected)  # λ corrected to the true pasted area
        lams.append(p.lam)
        pasted.append(1 - p.lam_corrected)
    assert stats.kstest(torch.cat(lams).numpy(), "uniform").pvalue > ALPHA
    pasted = torch.cat(pasted).numpy()
    reference = _reference_pasted_fraction(np.random.default_rng(0), 2000)
    assert stats.ks_2samp(pasted, reference).pvalue > ALPHA
    # clipping makes the pasted fraction fall short of U(0, 1): its mean is well below 1/2
    assert pasted.mean() < 0.45


def test_cutmix_batch_mode_shares_the_box():
    p = A.get("cutmix", randomness="batch").sample(_random_images(), torch.Generator().manual_seed(0))
    for t in (p.lam, p.top, p.bottom, p.left, p.right):
        assert torch.all(t == t[0])
    assert torch.all(p.partner != torch.arange(8))


@pytest.mark.parametrize("name", ["mixup", "cutmix"])
def test_mixing_keeps_values_between_the_pair(name):
    x = _random_images()
    y, p = A.get(name)(x, generator=torch.Generator().manual_seed(5), return_params=True)
    other = x[p.partner]
    assert torch.all(y >= torch.minimum(x, other)) and torch.all(y <= torch.maximum(x, other))
