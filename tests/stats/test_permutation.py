"""Permutation p-values: exact enumeration equals scipy's; Monte Carlo agrees within its sampling error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from dastat.stats.permutation import permutation_test

SCIPY = {"pearson": sps.pearsonr, "spearman": sps.spearmanr, "kendall": sps.kendalltau}


def _scipy_exact(method, x, y, alternative):
    # Permute one sample only ((x,) with y fixed): n! pairings, as scipy's docs do for correlations.
    return sps.permutation_test((x,), lambda xs: SCIPY[method](xs, y).statistic, permutation_type="pairings",
                                n_resamples=np.inf, alternative=alternative, vectorized=False).pvalue


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_p_equals_scipy_permutation_test(method, alternative):
    rng = np.random.default_rng(3)
    x = rng.normal(size=6)
    y = 0.5 * x + rng.normal(size=6)
    y[4] = y[1]  # a tie, so Spearman/Kendall take their tie-corrected forms
    got = permutation_test(method, x, y, alternative=alternative, rng=np.random.default_rng(0))
    assert got.method == "exact" and got.n_permutations == math.factorial(6)
    assert got.p_value == pytest.approx(_scipy_exact(method, x, y, alternative), rel=1e-12)


def test_exact_at_nine_points_enumerates_all_pairings():
    x = np.arange(9.0)
    got = permutation_test("kendall", x, x, alternative="greater", rng=np.random.default_rng(0))
    # Only the identity pairing reaches tau = 1.
    assert got.n_permutations == 362880
    assert got.p_value == pytest.approx(1 / 362880)


def test_monte_carlo_matches_exact_p_within_sampling_error():
    rng = np.random.default_rng(5)
    x = rng.normal(size=12)
    y = 0.4 * x + rng.normal(size=12)
    got = permutation_test("pearson", x, y, n_resamples=20000, rng=np.random.default_rng(1))
    assert got.method == "monte_carlo"
    # For Pearson the permutation p is close to the t test's; compare with 4 binomial SEs plus the
    # small gap between the two tests at n = 12 (bounded loosely by 0.02).
    p_t = sps.pearsonr(x, y).pvalue
    se = math.sqrt(p_t * (1 - p_t) / 20000) * 2  # two-sided doubles a one-sided count
    assert abs(got.p_value - p_t) < 4 * se + 0.02


def test_monte_carlo_p_is_never_zero_and_is_seeded():
    x = np.arange(15.0)
    a = permutation_test("spearman", x, x, n_resamples=999, rng=np.random.default_rng(7))
    b = permutation_test("spearman", x, x, n_resamples=999, rng=np.random.default_rng(7))
    assert a.p_value == b.p_value == pytest.approx(2 / 1000)
