"""Cutout: hole centre uniform, area and clipping exactly as DeVries & Taylor's Cutout."""

import numpy as np
import torch
from scipy import stats

import dastat.augment as A

ALPHA = 1e-3
FILL = (7, 77, 177)


def _images_without_fill(b=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)
    x[:, 0][x[:, 0] == FILL[0]] = 8  # no pixel has the fill colour before the hole is cut
    return x


def _hole(y):
    return (y == torch.tensor(FILL, dtype=torch.uint8)[:, None, None]).all(1)  # [B, H, W]


def test_hole_is_the_clipped_square_around_a_uniform_centre():
    scheme = A.get("cutout", fill=FILL)
    assert scheme.side == 8
    x = _images_without_fill()
    centres, areas = [], []
    for seed in range(125):  # 1000 holes
        y, p = scheme(x, generator=torch.Generator().manual_seed(seed), return_params=True)
        hole = _hole(y)
        for i in range(len(x)):
            cy, cx = int(p.cy[i]), int(p.cx[i])
            want = torch.zeros(32, 32, dtype=torch.bool)
            want[max(cy - 4, 0) : min(cy + 4, 32), max(cx - 4, 0) : min(cx + 4, 32)] = True
            assert torch.equal(hole[i], want)
            assert torch.equal(y[i][:, ~want], x[i][:, ~want])
        centres.append(p.cy * 32 + p.cx)
        areas.append(hole.flatten(1).sum(1))
    cy, cx = np.divmod(torch.cat(centres).numpy(), 32)
    assert stats.chisquare(np.bincount(cy, minlength=32)).pvalue > ALPHA
    assert stats.chisquare(np.bincount(cx, minlength=32)).pvalue > ALPHA
    # Mean hole area against its exact value under a uniform centre: clipping shrinks it below 64.
    side_len = np.array([min(c + 4, 32) - max(c - 4, 0) for c in range(32)])
    exact_mean = side_len.mean() ** 2
    area = torch.cat(areas).double().numpy()
    assert exact_mean < 64
    assert abs(area.mean() - exact_mean) < 4 * area.std() / np.sqrt(len(area))


def test_side_scales_to_64_pixels_and_batch_mode_shares_the_hole():
    assert A.get("cutout", image_size=64).side == 16
    p = A.get("cutout", randomness="batch").sample(_images_without_fill(), torch.Generator().manual_seed(1))
    assert torch.all(p.cy == p.cy[0]) and torch.all(p.cx == p.cx[0])


def test_default_fill_is_black():
    x = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    y = A.get("cutout")(x, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) == {0, 200}
