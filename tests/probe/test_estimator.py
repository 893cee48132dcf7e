"""The T. stddev estimator and its intervals, against plain numpy and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dastat.errors import InvalidArgumentError
from dastat.probe.estimator import (
    Design,
    _design_terms,
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


@pytest.mark.parametrize(("num_images", "batch_size", "batches_per_set"), [(1437, 64, 5), (700, 64, 5), (280, 64, 2)])
def test_design_counts_follow_the_engine_stream(num_images, batch_size, batches_per_set):
    from dastat.probe.stream import BatchStream

    stream = BatchStream(num_images, batch_size, seed=0, device=torch.device("cpu"))
    num_sets = 13
    want = np.zeros((num_sets, stream.epoch_of(num_sets * batches_per_set - 1) + 1))
    for b in range(num_sets * batches_per_set):
        want[b // batches_per_set, stream.epoch_of(b)] += len(stream.batch(b))
    np.testing.assert_array_equal(Design(num_images, batch_size, batches_per_set).counts(num_sets).numpy(), want)


def test_design_rejects_what_is_not_a_positive_count():
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        Design(1437, 0, 5)


def test_design_traces_equal_the_explicit_covariance_model():
    design, m = Design(700, 64, 5), 9
    counts = design.counts(m).numpy()
    n = counts.sum(1)
    p = counts / n[:, None]
    d, q, h = np.diag(1 / n), p @ p.T / design.num_images, np.eye(m) - 1 / m
    t = _design_terms(design, m)
    assert t["tr_hd"] == pytest.approx(np.trace(h @ d), rel=1e-12)
    assert t["tr_hq"] == pytest.approx(np.trace(h @ q), rel=1e-12)
    assert t["q2_d"] == pytest.approx(np.trace(p.T @ h @ d @ h @ p), rel=1e-12)
    assert t["q2_q"] == pytest.approx(np.trace(p.T @ h @ q @ h @ p), rel=1e-12)
    assert t["hdhd"] == pytest.approx(np.trace(h @ d @ h @ d), rel=1e-12)
    assert t["hdhq"] == pytest.approx(np.trace(h @ d @ h @ q), rel=1e-12)
    assert t["hqhq"] == pytest.approx(np.trace(h @ q @ h @ q), rel=1e-12)
    assert t["diag_d"] == pytest.approx(np.diag(d).mean(), rel=1e-12)
    assert t["diag_q"] == pytest.approx(np.diag(q).mean(), rel=1e-12)


def test_without_a_design_or_within_one_epoch_the_interval_is_the_plain_jackknife():
    means = torch.from_numpy(np.random.default_rng(3).dirichlet(np.ones(5), size=20))
    plain = interval(means)
    one_epoch = interval(means, design=Design(50_000, 64, 5))  # 20 sets of 320 images, all in epoch 0
    assert (one_epoch.ci_low, one_epoch.ci_high, one_epoch.df) == (plain.ci_low, plain.ci_high, plain.df)
