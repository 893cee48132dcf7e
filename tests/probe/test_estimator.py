"""The T. stddev estimator and its intervals, against plain numpy and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dastat.errors import InvalidArgumentError
from dastat.probe.estimator import (
    analytic_halfwidth,
    interval,
    paired_difference,
    t_stddev,
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
    assert float(t_stddev(torch.from_numpy(means))) == pytest.approx(expected, rel=1e-13)


def test_t_stddev_of_stacked_runs_equals_each_run():
    rng = np.random.default_rng(1)
    runs = torch.from_numpy(rng.random((3, 20, 5)))
    assert torch.allclose(t_stddev(runs), torch.stack([t_stddev(r) for r in runs]), rtol=1e-14)


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


def _coverage_with_stopping(reps: int, seed: int) -> tuple[float, int]:
    """Run the fast protocol's stopping rule on simulated sets; return coverage and mean stop."""
    rng = np.random.default_rng(seed)
    mix = np.eye(10) + 0.3 * rng.random((10, 10))
    shape, rtol, min_sets, check_every, max_sets = 2.0, 0.05, 20, 8, 1000
    sets = torch.from_numpy(_skewed_sets(rng, reps, max_sets, mix, shape))
    truth = _true_t_stddev(mix, shape)
    stop = torch.full((reps,), max_sets)
    running = torch.arange(reps)
    for m in range(min_sets, max_sets + 1, check_every):
        head = sets[running, :m]
        done = analytic_halfwidth(head) / t_stddev(head) <= rtol
        stop[running[done]] = m
        running = running[~done]
        if not len(running):
            break
    covered = 0
    for r in range(reps):
        ci = interval(sets[r, : int(stop[r])])
        covered += ci.ci_low <= truth <= ci.ci_high
    return covered / reps, int(stop.float().mean())


@pytest.mark.parametrize("reps", [400])
def test_interval_at_the_stopping_time_covers_95_percent(reps):
    coverage, mean_stop = _coverage_with_stopping(reps, seed=3)
    se = math.sqrt(0.95 * 0.05 / reps)
    assert abs(coverage - 0.95) <= 3 * se, (coverage, mean_stop)


@pytest.mark.slow
def test_interval_at_the_stopping_time_covers_95_percent_over_2000_runs():
    coverage, mean_stop = _coverage_with_stopping(2000, seed=4)
    se = math.sqrt(0.95 * 0.05 / 2000)
    assert abs(coverage - 0.95) <= 3 * se, (coverage, mean_stop)


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
        interval(torch.ones(1, 3))
    with pytest.raises(InvalidArgumentError, match="method"):
        interval(torch.rand(5, 3), method="exact")
