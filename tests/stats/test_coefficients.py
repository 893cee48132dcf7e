"""The vectorised coefficients agree with scipy row by row, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from dastat.stats.coefficients import coefficient

SCIPY = {"pearson": sps.pearsonr, "spearman": sps.spearmanr, "kendall": sps.kendalltau}


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_rows_match_scipy_with_and_without_ties(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12))
    y = x + rng.normal(size=(40, 12))
    x[::3] = np.round(x[::3])  # ties in every third row
    got = coefficient(method, x, y)
    want = [SCIPY[method](xi, yi).statistic for xi, yi in zip(x, y)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_constant_row_gives_nan_not_an_error(method):
    x = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    y = np.array([[1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 3.0]])
    got = coefficient(method, x, y)
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(SCIPY[method](x[1], y[1]).statistic, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_a_constant_whose_mean_rounds_away_from_it_is_still_constant(method):
    # 35 copies of a probe's floor: their float mean is not exactly the value, so centring leaves a
    # spread of a few ULPs, which once gave Pearson r ~ 1e-16 instead of "no coefficient".
    x = np.full(35, 0.016781745830509596)
    assert x.mean() != x[0]
    y = np.random.default_rng(0).normal(size=35)
    assert np.isnan(coefficient(method, x, y)[0]) and np.isnan(coefficient(method, y, x)[0])
