"""Fisher-z and BCa intervals against scipy; the percentile fallback where BCa is undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from dastat.stats import intervals
from dastat.stats.coefficients import coefficient


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_fisher_interval_equals_scipy_pearsonr(confidence):
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)
    res = sps.pearsonr(x, y)
    want = res.confidence_interval(confidence_level=confidence)
    got = intervals.fisher_z(float(res.statistic), 20, confidence)
    assert (got.low, got.high) == pytest.approx((want.low, want.high), abs=1e-12)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_bca_matches_scipy_bootstrap_within_monte_carlo_error(method):
    rng = np.random.default_rng(11)
    n, b = 30, 20000
    x = rng.normal(size=n)
    y = 0.5 * x + rng.normal(size=n)
    estimate = float(coefficient(method, x, y)[0])
    boot = intervals.bootstrap_distribution(method, x, y, n_resamples=b, rng=np.random.default_rng(1))
    got = intervals.bca(estimate, boot, intervals.jackknife(method, x, y), 0.95)
    assert got.method == "bca"

    def stat(xs, ys, axis=-1):
        return coefficient(method, xs, ys)

    want = sps.bootstrap((x, y), stat, paired=True, vectorized=True, n_resamples=b, method="BCa",
                         confidence_level=0.95, rng=np.random.default_rng(2)).confidence_interval
    # Two independent Monte Carlo quantile estimates: SE of each ~ sqrt(p(1-p)/B) / f(q); with a
    # normal-shaped distribution f(q) ~ phi(1.96) / sd. Allow 4 SEs of the difference.
    sd = float(np.nanstd(boot))
    se_q = math.sqrt(0.025 * 0.975 / b) / sps.norm.pdf(1.96) * sd
    tol = 4 * math.sqrt(2) * se_q
    assert got.low == pytest.approx(want.low, abs=tol)
    assert got.high == pytest.approx(want.high, abs=tol)


def test_jackknife_leaves_each_point_out():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=7), rng.normal(size=7)
    got = intervals.jackknife("kendall", x, y)
    want = [sps.kendalltau(np.delete(x, i), np.delete(y, i)).statistic for i in range(7)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_bca_falls_back_to_percentile_when_r_is_one():
    x = np.arange(9.0)
    y = x**2  # monotone: Spearman and Kendall are exactly 1 on every resample
    boot = intervals.bootstrap_distribution("kendall", x, y, n_resamples=500, rng=np.random.default_rng(0))
    got = intervals.bca(1.0, boot, intervals.jackknife("kendall", x, y), 0.95)
    assert got.method == "percentile"
    assert "BCa undefined" in got.note
    assert (got.low, got.high) == pytest.approx((1.0, 1.0))


def test_fisher_interval_with_three_points_is_everything():
    got = intervals.fisher_z(0.5, 3, 0.95)
    assert (got.low, got.high) == (-1.0, 1.0) and got.note
