"""Dependent correlations sharing a variable: published worked examples, then simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr, ndtri
from statsmodels.stats.meta_analysis import combine_effects

from dastat.stats import dependent
from dastat.stats.pooled import random_effects


def test_williams_and_steiger_match_depcor_to_its_four_decimals():
    # Silver, Hittner & May (2006), "A FORTRAN 77 program for comparing dependent correlations",
    # Applied Psychological Measurement 30, 152-153: r_jk = .3, r_jh = .4, r_kh = .5, n = 100 gives
    # Williams' t = -1.0767 (p = .2843) and Steiger's Z1* = -1.0718 (p = .2838), printed to 4 decimals.
    w = dependent.williams_t(0.3, 0.4, 0.5, 100)
    s = dependent.steiger_z(0.3, 0.4, 0.5, 100)
    assert (w.statistic, w.p_value, w.df) == pytest.approx((-1.0767, 0.2843, 97), abs=5e-5)
    assert (s.statistic, s.p_value) == pytest.approx((-1.0718, 0.2838), abs=5e-5)
    assert math.isinf(s.df)


def test_steiger_case_a_worked_example():
    # Steiger (1980), Psychological Bulletin 87, p. 249, case A: r_jk = .4, r_jh = .5, r_kh = .1,
    # n = 103. The paper prints Z1* = -.8913, computed from intermediate values rounded to a few
    # decimals; unrounded, the same formula gives -0.88872 (as cocor's own test of this example
    # notes). The tolerance covers that rounding, not our error. psych's r.test
    # documents Williams' t for the same numbers as "t value -0.89 with probability < 0.37".
    s = dependent.steiger_z(0.4, 0.5, 0.1, 103)
    assert s.statistic == pytest.approx(-0.8913, abs=0.003)
    assert s.statistic == pytest.approx(-0.8887185, abs=5e-8)
    w = dependent.williams_t(0.4, 0.5, 0.1, 103)
    assert round(w.statistic, 2) == -0.89 and round(w.p_value, 2) == 0.37


def test_zou_interval_matches_zou_2007_example():
    # Zou (2007), Psychological Methods 12, 399-413, overlapping example: r_12 = .396, r_13 = .179,
    # r_23 = .088, n = 66 gives the 95% interval (-.093, .517) for r_12 - r_13.
    interval = dependent.zou_interval(0.396, 0.179, 0.088, 66, 0.95)
    assert (interval.low, interval.high) == pytest.approx((-0.093, 0.517), abs=5e-4)
    assert interval.method == "zou2007"


def test_small_or_degenerate_samples_give_nan():
    assert math.isnan(dependent.williams_t(0.3, 0.4, 0.5, 3).p_value)
    assert math.isnan(dependent.steiger_z(1.0, 0.4, 0.5, 30).p_value)
    assert math.isnan(dependent.zou_interval(0.3, 0.4, 0.5, 3, 0.95).low)


def test_random_effects_equals_statsmodels_dersimonian_laird():
    rng = np.random.default_rng(5)
    est, var = rng.normal(0.2, 0.3, 6), rng.uniform(0.02, 0.2, 6)
    ours = random_effects(est, var, 0.95)
    ref = combine_effects(est, var, method_re="dl")
    assert ours["estimate"] == pytest.approx(ref.mean_effect_re, rel=1e-12)
    assert ours["se"] == pytest.approx(ref.sd_eff_w_re, rel=1e-12)
    assert ours["tau2"] == pytest.approx(ref.tau2, rel=1e-12)
    low, high = ref.conf_int(use_t=False)[1]  # fixed, random, fixed wls, random wls
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((low, high), rel=1e-12)


def _trivariate(rng, reps, n, r_ya, r_yb, r_ab):
    cov = np.array([[1, r_ya, r_yb], [r_ya, 1, r_ab], [r_yb, r_ab, 1]])
    return rng.standard_normal((reps, n, 3)) @ np.linalg.cholesky(cov).T  # [reps, n, 3]: y, a, b


def _normal_theory_rejections(data, alpha=0.05):
    hits = {"williams_t": 0, "steiger_z": 0}
    for sample in data:
        c = np.corrcoef(sample.T)
        args = (c[0, 1], c[0, 2], c[1, 2], sample.shape[0])
        hits["williams_t"] += dependent.williams_t(*args).p_value < alpha
        hits["steiger_z"] += dependent.steiger_z(*args).p_value < alpha
    return {k: v / len(data) for k, v in hits.items()}


def _mc_margin(p, reps, z=3.5):
    """Half-width of a two-sided band that a correct rate leaves with probability ~5e-4."""
    return z * math.sqrt(p * (1 - p) / reps)


def test_williams_and_steiger_reject_at_the_nominal_rate_under_the_null():
    reps = 4000
    data = _trivariate(np.random.default_rng(11), reps, 30, 0.5, 0.5, 0.5)
    for test, rate in _normal_theory_rejections(data).items():
        assert abs(rate - 0.05) <= _mc_margin(0.05, reps), (test, rate)


def test_power_under_a_known_difference_matches_normal_theory():
    # Steiger's z is asymptotically normal with mean (atanh rho_ya - atanh rho_yb) and variance
    # (2 - 2c)/(n - 3), c the correlation of the two z's at the true rhos (Steiger 1980); the test
    # divides by its null variance. At n = 100 that approximation is good to well under the MC error.
    n, r_ya, r_yb, r_ab, reps = 100, 0.5, 0.3, 0.5, 3000
    psi = r_ab * (1 - r_ya**2 - r_yb**2) - 0.5 * r_ya * r_yb * (1 - r_ya**2 - r_yb**2 - r_ab**2)
    c = psi / ((1 - r_ya**2) * (1 - r_yb**2))
    sd_alt = math.sqrt((2 - 2 * c) / (n - 3))
    sd_null = math.sqrt(dependent.steiger_variance(r_ya, r_yb, r_ab, n))
    delta, crit = math.atanh(r_ya) - math.atanh(r_yb), float(ndtri(0.975))
    expected = float(ndtr((delta - crit * sd_null) / sd_alt) + ndtr((-delta - crit * sd_null) / sd_alt))
    rates = _normal_theory_rejections(_trivariate(np.random.default_rng(12), reps, n, r_ya, r_yb, r_ab))
    for test, rate in rates.items():
        assert abs(rate - expected) <= _mc_margin(expected, reps), (test, rate, expected)


def _bootstrap_rejections_and_coverage(method, n, r_ya, r_yb, reps, true_diff, seed):
    rng = np.random.default_rng(seed)
    data = _trivariate(rng, reps, n, r_ya, r_yb, 0.5)
    rejected = covered = 0
    for sample in data:
        boot = dependent.bootstrap_differences(method, sample[:, 0], sample[:, 1:], n_resamples=999, rng=rng)
        draws = boot[:, 0] - boot[:, 1]
        rejected += dependent.bootstrap_p_value(draws) < 0.05
        low, high = np.quantile(draws, [0.025, 0.975])
        covered += low <= true_diff <= high
    return rejected / reps, covered / reps


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_scheme_bootstrap_keeps_its_level_at_nine_schemes(method):
    # At the paper's n = 9 the bootstrap is conservative, not liberal: the rate may fall below 5%
    # (Notes of compare_predictors give the measured rates) but not above it beyond the MC error.
    reps = 300
    rate, _ = _bootstrap_rejections_and_coverage(method, 9, 0.5, 0.5, reps, 0.0, seed=21)
    assert rate <= 0.05 + _mc_margin(0.05, reps)


def test_scheme_bootstrap_interval_covers_the_true_spearman_difference():
    # For normal data the population Spearman correlation is (6/pi) asin(rho/2) (Pearson 1907),
    # so the true difference under rho_ya = .7, rho_yb = .3 is known.
    reps, n = 300, 30
    true_diff = 6 / math.pi * (math.asin(0.7 / 2) - math.asin(0.3 / 2))
    rate, coverage = _bootstrap_rejections_and_coverage("spearman", n, 0.7, 0.3, reps, true_diff, seed=22)
    assert coverage >= 0.95 - _mc_margin(0.95, reps)
    assert rate > 0.05 + _mc_margin(0.05, reps)  # a real difference is detected more often than a null one


@pytest.mark.slow
def test_scheme_bootstrap_level_at_thirty_schemes():
    reps = 2000
    for method in ("spearman", "kendall"):
        rate, _ = _bootstrap_rejections_and_coverage(method, 30, 0.5, 0.5, reps, 0.0, seed=23)
        assert rate <= 0.05 + _mc_margin(0.05, reps), (method, rate)


def test_bootstrap_p_value_counts_both_tails_and_is_never_zero():
    # One of 4 draws below 0: 2 (1 + 1) / (4 + 1). A tie at 0 counts half on each side.
    assert dependent.bootstrap_p_value(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.8)
    assert dependent.bootstrap_p_value(np.array([1.0, 0.0, 3.0, 2.0])) == pytest.approx(2 * 1.5 / 5)
    # Every draw on one side: the smallest p-value B draws can give, 2 / (B + 1), not 0 (a "p_holm = 0"
    # in a report came from here).
    draws = np.arange(1.0, 1000.0)
    assert dependent.bootstrap_p_value(draws) == pytest.approx(2 / 1000) and dependent.bootstrap_p_value(draws) > 0
    assert math.isnan(dependent.bootstrap_p_value(np.array([np.nan])))
