"""Interval coverage by simulation on bivariate normal data with known correlation.

Each method is checked against its own population value (Pearson: rho; Spearman: 6/pi asin(rho/2);
Kendall: 2/pi asin(rho)). The observed coverage must lie within 3 binomial standard errors of the
nominal 95%: sqrt(0.95 * 0.05 / reps), so the band widens for the smaller default run.

BCa at n ~ 9 (the paper's panels) is known to under-cover; that is documented in
dastat.stats.correlate, not tested into shape here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dastat.stats import intervals
from dastat.stats.coefficients import coefficient

RHO = 0.5
POPULATION = {
    "pearson": RHO,
    "spearman": 6 / math.pi * math.asin(RHO / 2),
    "kendall": 2 / math.pi * math.asin(RHO),
}


def _coverage(method: str, *, reps: int, n: int, n_resamples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    cov = [[1.0, RHO], [RHO, 1.0]]
    hits = 0
    for _ in range(reps):
        x, y = rng.multivariate_normal([0, 0], cov, size=n).T
        r = float(coefficient(method, x, y)[0])
        if method == "pearson":
            ci = intervals.fisher_z(r, n, 0.95)
        else:
            boot = intervals.bootstrap_distribution(method, x, y, n_resamples=n_resamples, rng=rng)
            ci = intervals.bca(r, boot, intervals.jackknife(method, x, y), 0.95)
        hits += ci.low <= POPULATION[method] <= ci.high
    return hits / reps


def _check(method, reps, n_resamples):
    coverage = _coverage(method, reps=reps, n=30, n_resamples=n_resamples, seed=2024)
    se = math.sqrt(0.95 * 0.05 / reps)
    assert abs(coverage - 0.95) <= 3 * se, f"{method}: coverage {coverage:.3f} over {reps} reps"


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_coverage_at_n30_small(method):
    _check(method, reps=1000 if method == "pearson" else 250, n_resamples=999)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_coverage_at_n30_full(method):
    _check(method, reps=2000 if method == "pearson" else 1000, n_resamples=1999)
