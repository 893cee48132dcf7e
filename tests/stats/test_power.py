"""Detectable differences: Williams' t power by simulation, checked against fresh simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dastat.stats import dependent
from dastat.stats.coefficients import pearson
from dastat.stats.power import GRID_STEP, detectable_difference, williams_p


def test_vectorised_williams_equals_the_scalar_test():
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = rng.uniform(-0.9, 0.9, 3)
        n = int(rng.integers(5, 40))
        assert williams_p(*r, n) == pytest.approx(dependent.williams_t(*r, n).p_value, rel=1e-10, nan_ok=True)


def _power(n, c, d, r_ab, alpha, reps, seed):
    rho_a, rho_b = c + d / 2, c - d / 2
    cov = np.array([[1, rho_a, rho_b], [rho_a, 1, r_ab], [rho_b, r_ab, 1]])
    z = np.random.default_rng(seed).standard_normal((reps, n, 3)) @ np.linalg.cholesky(cov).T
    y, a, b = z[..., 0], z[..., 1], z[..., 2]
    p = np.array([dependent.williams_t(ra, rb, rab, n).p_value
                  for ra, rb, rab in zip(pearson(y, a), pearson(y, b), pearson(a, b))])
    return float(np.mean(p < alpha))


@pytest.mark.parametrize(("n", "c", "r_ab"), [(9, 0.5, 0.5), (30, 0.6, 0.7)])
def test_detectable_difference_reaches_eighty_percent_power_and_a_step_less_does_not(n, c, r_ab):
    d = detectable_difference(n, c, c, r_ab, alpha=0.05, n_sims=400)
    reps = 2000
    margin = 3.5 * math.sqrt(0.8 * 0.2 / 400) + 3.5 * math.sqrt(0.8 * 0.2 / reps)  # both simulations' error
    assert _power(n, c, d, r_ab, 0.05, reps, seed=1) >= 0.8 - margin
    assert _power(n, c, d - 3 * GRID_STEP, r_ab, 0.05, reps, seed=2) < 0.8 + margin


def test_more_points_or_a_looser_level_detect_smaller_differences():
    base = detectable_difference(9, 0.8, 0.8, 0.9, alpha=0.05)
    assert detectable_difference(30, 0.8, 0.8, 0.9, alpha=0.05) < base
    holm = detectable_difference(9, 0.8, 0.8, 0.9, alpha=0.05 / 27)
    assert math.isnan(holm) or holm >= base  # NaN: no difference that fits r_ab = 0.9 reaches 80% power
    assert math.isnan(detectable_difference(3, 0.8, 0.8, 0.9, alpha=0.05))
    assert math.isnan(detectable_difference(9, math.nan, 0.8, 0.9, alpha=0.05))


def test_a_strength_difference_is_never_one_of_sign():
    # Two weak correlations: as oriented differences the simulation may pit +0.6 against -0.5; as
    # strengths both true correlations stay >= 0, so a difference of |r| can never exceed 1.
    oriented = detectable_difference(9, 0.1, 0.05, 0.2, alpha=0.05)
    strength = detectable_difference(9, 0.1, 0.05, 0.2, alpha=0.05, strength=True)
    assert oriented > 1.0 and (math.isnan(strength) or strength <= 1.0)


def test_the_detectable_difference_is_a_grid_point_written_to_two_decimals():
    from dastat.stats.power import detectable_difference

    # Settings whose grid point np.arange gives as 0.30000000000000004, 0.36000000000000004, 0.19999999999999998.
    for centre, r_ab in ((0.7, 0.5), (0.6, 0.5), (0.7, 0.8)):
        d = detectable_difference(35, centre - 0.05, centre + 0.05, r_ab, alpha=0.05, strength=True)
        assert d == round(d, 2)
