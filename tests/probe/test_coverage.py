"""Coverage of the probe's interval, at fixed set counts and at the stopping rule's stop, by simulation.

The scenarios and simulations are dastat.probe.coverage's (docs/method.md, "T. stddev and its estimator").
The target is 0.93-0.97 in every scenario. The slow version asserts it at 2,000 repetitions; the
default version runs fewer repetitions and allows their own Monte Carlo error on top: a coverage
measured over R repetitions has standard error se = sqrt(p (1 - p) / R) at the nominal p = 0.95,
and must lie within [0.93 - 3 se, 0.97 + 3 se]. The paired difference between two schemes of equal
T. stddev must reject at 5%, within [0.03 - 3 se, 0.07 + 3 se] (the same se, p = 0.05).
``tools/coverage_table.py`` runs the same functions for the table in results/coverage/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dastat.probe import estimator
from dastat.probe.coverage import (
    SYNTHETIC,
    UNITS,
    digits_labels,
    fixed_coverage,
    gaussian,
    heavy_tailed,
    label_like,
    label_stream,
    paired_rejection,
    skewed,
    stopping_coverage,
    unit_means,
)


def _band(reps: int, low: float, high: float) -> tuple[float, float]:
    """[low - 3 se, high + 3 se]: se = sqrt(p (1 - p) / reps), the Monte Carlo error of a rate near p = 0.95 or 0.05."""
    se = math.sqrt(0.95 * 0.05 / reps)
    return low - 3 * se, high + 3 * se


# ---------------------------------------------------------------- default run: fewer repetitions


@pytest.mark.parametrize("scn", [gaussian(10), gaussian(200), skewed(10), skewed(100), label_like(10),
                                 label_like(200), heavy_tailed(10), heavy_tailed(200)], ids=lambda s: s.name)
def test_interval_covers_at_24_sets(scn):
    reps = 1000
    coverage = fixed_coverage(scn, 24, reps, seed=11)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name}: coverage {coverage:.3f} at 24 sets over {reps} reps"


@pytest.mark.parametrize("scn", [gaussian(10), label_like(100), heavy_tailed(200)], ids=lambda s: s.name)
def test_interval_covers_at_the_stopping_rule_rtol_005(scn):
    reps = 400
    coverage, mean_stop = stopping_coverage(scn, 0.05, reps, seed=12)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name}: coverage {coverage:.3f} at the stop ({mean_stop:.0f} sets)"


@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_interval_covers_on_the_digits_label_stream(perfect):
    scn = label_stream(digits_labels(), perfect=perfect)
    reps = 1000
    coverage = fixed_coverage(scn, 30, reps, seed=13)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name}: coverage {coverage:.3f} at 30 sets"


@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_paired_difference_rejects_equal_schemes_at_5_percent_on_the_digits_stream(perfect):
    scn = label_stream(digits_labels(), perfect=perfect)
    reps = 600
    rate = paired_rejection(scn, 30, reps, seed=18)
    low, high = _band(reps, 0.03, 0.07)
    assert low <= rate <= high, f"{scn.name}: false-positive rate {rate:.3f} at 30 sets"


@pytest.mark.parametrize("scn", [gaussian(10), skewed(10), label_like(100)], ids=lambda s: s.name)
def test_paired_difference_rejects_equal_schemes_at_5_percent(scn):
    reps = 1000
    rate = paired_rejection(scn, 24, reps, seed=14)
    low, high = _band(reps, 0.03, 0.07)
    assert low <= rate <= high, f"{scn.name}: false-positive rate {rate:.3f} at 24 sets"


@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_digits_truth_matches_a_long_stream(perfect):
    # The analytic truth of the stream scenario against the estimator over 10,000 batch units.
    scn = label_stream(digits_labels(), perfect=perfect)
    means = unit_means(scn, np.random.default_rng(15), 1, 10_000)[0]
    est = float(estimator.stddev_of_means(means, UNITS))
    # Relative sampling error of a stddev from M near-Gaussian units, averaged over 10 partly
    # independent classes: at most 1/sqrt(2M) per class.
    assert est == pytest.approx(scn.truth, rel=3 / math.sqrt(2 * len(means)))


# ---------------------------------------------------------------- slow: 2,000 repetitions, the target itself


@pytest.mark.slow
@pytest.mark.parametrize("num_sets", [24, 30, 88])
@pytest.mark.parametrize("scn", SYNTHETIC, ids=lambda s: s.name)
def test_interval_covers_at_fixed_sets_over_2000_runs(scn, num_sets):
    coverage = fixed_coverage(scn, num_sets, 2000, seed=21)
    assert 0.93 <= coverage <= 0.97, f"{scn.name}: coverage {coverage:.3f} at {num_sets} sets"


@pytest.mark.slow
@pytest.mark.parametrize("rtol", [0.05, 0.02])
@pytest.mark.parametrize("scn", SYNTHETIC, ids=lambda s: s.name)
def test_interval_covers_at_the_stopping_rule_over_2000_runs(scn, rtol):
    coverage, mean_stop = stopping_coverage(scn, rtol, 2000, seed=22)
    assert 0.93 <= coverage <= 0.97, f"{scn.name}: coverage {coverage:.3f} at the stop ({mean_stop:.0f} sets)"


@pytest.mark.slow
@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_interval_covers_on_the_digits_label_stream_over_2000_runs(perfect):
    scn = label_stream(digits_labels(), perfect=perfect)
    for num_sets in (24, 30, 88):
        coverage = fixed_coverage(scn, num_sets, 2000, seed=23)
        assert 0.93 <= coverage <= 0.97, f"{scn.name}: coverage {coverage:.3f} at {num_sets} sets"
    for rtol in (0.05, 0.02):
        coverage, mean_stop = stopping_coverage(scn, rtol, 2000, seed=24)
        assert 0.93 <= coverage <= 0.97, f"{scn.name}: coverage {coverage:.3f} at the stop ({mean_stop:.0f} sets)"
    for num_sets in (24, 88):
        rate = paired_rejection(scn, num_sets, 2000, seed=25)
        assert 0.03 <= rate <= 0.07, f"{scn.name}: false-positive rate {rate:.3f} at {num_sets} sets"


@pytest.mark.slow
@pytest.mark.parametrize("num_sets", [24, 88])
@pytest.mark.parametrize("scn", SYNTHETIC, ids=lambda s: s.name)
def test_paired_difference_rejects_equal_schemes_at_5_percent_over_2000_runs(scn, num_sets):
    rate = paired_rejection(scn, num_sets, 2000, seed=25)
    assert 0.03 <= rate <= 0.07, f"{scn.name}: false-positive rate {rate:.3f} at {num_sets} sets"
