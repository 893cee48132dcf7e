"""The T. stddev estimator and its intervals, against plain numpy and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dastat.errors import InvalidArgumentError
from dastat.probe.estimator import (
    interval,
    jackknife_values,
    log_jackknife,
    paired_difference,
    stddev_of_means,
    z_value,
)


def _skewed_sets(rng: np.random.Generator, reps: int, num_sets: int, mix: np.ndarray, shape: float) -> np.ndarray:
    """Set means = 0.1 + mix @ Gamma(shape) noise: skewed, correlated classes, known stddev."""
    noise = rng.gamma(shape, 1.0, size=(reps, num_sets, mix.shape[1]))
    return 0.1 + noise @ mix.T * 1e-3


def _true_t_stddev(mix: np.ndarray, shape: float) -> float:
    # Var(Gamma(k, 1)) = k, so class c has stddev 1e-3 * sqrt(k * sum_j mix_cj^2).
    return float(np.mean(1e-3 * np.sqrt(shape * (mix**2).sum(1))))


def test_t_stddev_equals_numpy_mean_of_unbiased_class_stddevs():
    rng = np.random.default_rng(0)
    means = rng.dirichlet(np.ones(7), size=50)
    expected = np.std(means, axis=0, ddof=1).mean()
    assert float(stddev_of_means(torch.from_numpy(means))) == pytest.approx(expected, rel=1e-13)


def test_t_stddev_of_stacked_runs_equals_each_run():
    rng = np.random.default_rng(1)
    runs = torch.from_numpy(rng.random((3, 20, 5)))
    assert torch.allclose(stddev_of_means(runs), torch.stack([stddev_of_means(r) for r in runs]), rtol=1e-14)


def test_z_value_is_the_normal_quantile():
    assert z_value(0.95) == pytest.approx(1.959963985, abs=1e-9)


def test_analytic_and_bootstrap_intervals_agree_on_large_samples():
    rng = np.random.default_rng(2)
    mix = rng.random((10, 10))
    means = torch.from_numpy(_skewed_sets(rng, 1, 600, mix, 2.0)[0])
    analytic = interval(means, method="analytic")
    boot = interval(means, method="bootstrap", n_resamples=4000, generator=torch.Generator().manual_seed(0))
    # Both estimate the same sampling spread; at M = 600 they differ by bootstrap noise and skew only.
    assert boot.halfwidth == pytest.approx(analytic.halfwidth, rel=0.15)
    assert analytic.ci_low < analytic.estimate < analytic.ci_high


def test_paired_difference_detects_a_shift_and_not_an_identity():
    rng = np.random.default_rng(5)
    base = rng.dirichlet(np.ones(5) * 50, size=300)
    a = torch.from_numpy(base)
    b = torch.from_numpy(0.5 * base + 0.5 * base.mean(0))  # half the spread
    shrunk = paired_difference(a, b, generator=torch.Generator().manual_seed(0))
    assert shrunk.diff < 0 and shrunk.is_significant and shrunk.p_value < 0.01
    same = paired_difference(a, a.clone(), generator=torch.Generator().manual_seed(0))
    assert same.diff == 0 and not same.is_significant


def test_interval_needs_two_sets():
    with pytest.raises(InvalidArgumentError, match="M >= 2"):
        interval(torch.ones(1, 3), method="analytic")
    with pytest.raises(InvalidArgumentError, match="M >= 3"):
        interval(torch.ones(2, 3))
    with pytest.raises(InvalidArgumentError, match="method"):
        interval(torch.rand(5, 3), method="exact")


def test_jackknife_values_equal_leaving_each_set_out():
    rng = np.random.default_rng(6)
    means = torch.from_numpy(rng.dirichlet(np.ones(4) * 20, size=9))
    direct = torch.stack([stddev_of_means(torch.cat([means[:i], means[i + 1:]])) for i in range(9)])
    assert torch.allclose(jackknife_values(means), direct, rtol=1e-12)


def test_jackknife_bias_matches_the_bias_of_a_gaussian_log_stddev():
    # One class: s² ~ σ² χ²(M-1)/(M-1), so E[log s] - log σ = (digamma((M-1)/2) - log((M-1)/2)) / 2.
    # The jackknife leaves an O(1/M²) remainder: within 1/M of the bias, plus 4 Monte Carlo se.
    from scipy.special import digamma

    m, reps = 24, 4000
    rng = np.random.default_rng(7)
    means = torch.from_numpy(0.1 + 1e-3 * rng.standard_normal((reps, m, 1)))
    bias = log_jackknife(means)[1]
    expected = (digamma((m - 1) / 2) - math.log((m - 1) / 2)) / 2
    se = float(bias.std()) / math.sqrt(reps)
    assert float(bias.mean()) == pytest.approx(expected, abs=4 * se + abs(expected) / m)


def test_interval_is_the_jackknife_and_contains_the_estimate():
    rng = np.random.default_rng(8)
    means = torch.from_numpy(0.1 + 1e-3 * rng.standard_normal((40, 10)))
    ci = interval(means, 0.9)
    assert ci.method == "jackknife" and ci.n_sets == 40 and ci.confidence == 0.9
    assert ci.ci_low < ci.estimate < ci.ci_high and ci.bias < 0
    wider = interval(means, 0.99)
    assert wider.ci_low < ci.ci_low and wider.ci_high > ci.ci_high


def test_paired_difference_is_the_t_interval_of_the_jackknife_pseudo_values():
    from scipy import stats

    rng = np.random.default_rng(9)
    a = torch.from_numpy(0.1 + 1e-3 * rng.standard_normal((50, 3)))
    b = torch.from_numpy(0.1 + 1.2e-3 * rng.standard_normal((50, 3)))
    pair = paired_difference(a, b)
    # Tukey's pseudo-values: their mean is the bias-corrected difference, their se the jackknife se.
    pseudo = (50 * (stddev_of_means(b) - stddev_of_means(a)) - 49 * (jackknife_values(b) - jackknife_values(a))).numpy()
    centre, se = pseudo.mean(), pseudo.std(ddof=1) / math.sqrt(50)
    assert (pair.ci_low + pair.ci_high) / 2 == pytest.approx(centre, rel=1e-9)
    # Its t quantile has at most 49 degrees of freedom (fewer for heavy-tailed pseudo-values).
    assert (pair.ci_high - pair.ci_low) / 2 >= stats.t.ppf(0.975, 49) * se * (1 - 1e-9)
    assert pair.is_significant == (pair.p_value < 0.05)


def test_units_per_set_divides_the_unit_stddev_and_scales_the_interval():
    # T. stddev from batch units: mean_c sqrt(Var(batch means) / b); on the log scale the interval moves by -log(b)/2.
    rng = np.random.default_rng(3)
    batches = torch.from_numpy(rng.dirichlet(np.ones(5) * 20, size=100))
    plain, per_set = interval(batches), interval(batches, units_per_set=5)
    assert per_set.estimate == pytest.approx(np.std(batches.numpy(), axis=0, ddof=1).mean() / math.sqrt(5), rel=1e-12)
    for got, want in ((per_set.ci_low, plain.ci_low), (per_set.ci_high, plain.ci_high), (per_set.bias, plain.bias)):
        assert got == pytest.approx(want / math.sqrt(5), rel=1e-12)
    assert per_set.df == plain.df and per_set.rel_halfwidth == pytest.approx(plain.rel_halfwidth, rel=1e-12)
    a, b = batches, batches + 1e-3 * torch.from_numpy(rng.standard_normal(batches.shape))
    pair, pair5 = paired_difference(a, b), paired_difference(a, b, units_per_set=5)
    assert (pair5.diff, pair5.ci_low, pair5.ci_high) == pytest.approx(
        (pair.diff / math.sqrt(5), pair.ci_low / math.sqrt(5), pair.ci_high / math.sqrt(5)), rel=1e-12)
    assert pair5.p_value == pytest.approx(pair.p_value, rel=1e-12)


def test_batch_units_estimate_the_set_quantity_with_a_narrower_interval():
    # Independent batches: a set's mean is the mean of its 5 batch means, so the two estimators target
    # one value; the batch units give the interval 5x the units, about sqrt(5) narrower.
    rng = np.random.default_rng(4)
    reps, sets, c = 300, 40, 10
    batches = torch.from_numpy(0.1 + 1e-3 * rng.standard_normal((reps, sets * 5, c)))
    per_set = batches.reshape(reps, sets, 5, c).mean(2)
    from dastat.probe.estimator import jackknife_interval

    est_b, low_b, high_b, _ = jackknife_interval(batches, units_per_set=5)
    est_s, low_s, high_s, _ = jackknife_interval(per_set)
    truth = 1e-3 / math.sqrt(5)
    assert float(est_b.mean()) == pytest.approx(truth, rel=0.01)
    assert float(est_s.mean()) == pytest.approx(truth, rel=0.03)
    ratio = float(((high_s - low_s) / (high_b - low_b)).mean())
    assert 2.0 < ratio < 2.6  # sqrt(5) = 2.24, a little more at 40 sets (t quantile, noisier se)
