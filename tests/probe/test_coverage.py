"""Coverage of the probe's interval, at fixed set counts and at the stopping rule's stop, by simulation.

Protocol fast estimates T. stddev from independent batch units
(docs/method.md, "T. stddev and its estimator"): unit means are simulated directly (vectorised over
repetitions) from scenarios whose T. stddev is known, and the interval is the probe's, with 5 units a
set. Scenarios: Gaussian, skewed and correlated (Gamma noise mixed across classes), label-like
(multinomial label shares of a 64-image batch times a teacher's confidence, plus augmentation noise),
heavy-tailed (Student t, 10 df: kurtosis 4), and the digits label stream drawn as the engine draws it:
each batch of 64 images drawn independently, with replacement, from the digits training labels.

The target is 0.93-0.97 in every scenario. The slow version asserts it at 2,000 repetitions; the
default version runs fewer repetitions and allows their own Monte Carlo error on top: a coverage
measured over R repetitions has standard error se = sqrt(p (1 - p) / R) at the nominal p = 0.95,
and must lie within [0.93 - 3 se, 0.97 + 3 se]. The paired difference between two schemes of equal
T. stddev must reject at 5%, within [0.03 - 3 se, 0.07 + 3 se] (the same se, p = 0.05).
``tools/coverage_table.py`` runs the same functions for the table in results/coverage/.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dastat.probe import estimator, protocols

CONFIDENCE = 0.95
CHECK_EVERY, MIN_SETS, MAX_SETS = 8, 20, 2000  # the fast protocol's defaults, in sets
UNITS = 5  # batch units a set (the fast protocol's 5 batches of 64)
BATCH = 64


@dataclass(frozen=True)
class Scenario:
    """Unit means drawn in independent blocks of ``block`` units; ``truth``: the T. stddev (sets of UNITS units)."""

    name: str
    num_classes: int
    block: int
    draw: Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, reps, blocks) -> [reps, units, C]
    truth: float


def gaussian(c: int) -> Scenario:
    sig = np.linspace(0.5, 1.5, c) * 1e-3
    return Scenario(f"gaussian C={c}", c, 40, lambda rng, r, b: 0.1 + rng.standard_normal((r, 40 * b, c)) * sig,
                    float(sig.mean()) / math.sqrt(UNITS))


def skewed(c: int, shape: float = 2.0) -> Scenario:
    mix = np.eye(c) + 0.3 * np.random.default_rng(99).random((c, c))  # classes share noise: correlated
    # Var(Gamma(k, 1)) = k, so class c has stddev 1e-3 sqrt(k sum_j mix_cj^2).
    truth = float(np.mean(1e-3 * np.sqrt(shape * (mix**2).sum(1)))) / math.sqrt(UNITS)
    return Scenario(f"skewed C={c}", c, 40,
                    lambda rng, r, b: 0.1 + rng.gamma(shape, 1.0, (r, 40 * b, c)) @ mix.T * 1e-3, truth)


def label_like(c: int, images: int = BATCH, confidence: float = 0.8, noise: float = 2e-3) -> Scenario:
    shares = np.random.default_rng(98).dirichlet(np.ones(c) * 5)
    sd = noise / math.sqrt(c)

    def draw(rng, r, b):
        counts = rng.multinomial(images, shares, size=(r, 40 * b))
        return confidence * counts / images + (1 - confidence) / c + sd * rng.standard_normal((r, 40 * b, c))

    truth = float(np.mean(np.sqrt((confidence**2 * shares * (1 - shares) / images + sd**2) / UNITS)))
    return Scenario(f"label-like C={c}", c, 40, draw, truth)


def heavy_tailed(c: int, df: int = 10) -> Scenario:
    sig = np.linspace(0.5, 1.5, c) * 1e-3
    return Scenario(f"heavy-tailed C={c}", c, 40, lambda rng, r, b: 0.1 + rng.standard_t(df, (r, 40 * b, c)) * sig,
                    float(sig.mean() * math.sqrt(df / (df - 2))) / math.sqrt(UNITS))


def label_stream(labels: np.ndarray, *, perfect: bool) -> Scenario:
    """The engine's batch units over a real label pool: 64 images drawn independently with replacement.

    Each image k has a fixed teacher probability q_k = a_k onehot(y_k) + (1 - a_k) / C (a_k = 1 for
    a perfect teacher), and each batch adds independent augmentation noise of sd 0.25 / sqrt(64)
    (none for the perfect teacher). The truth: a set of 320 independent draws has
    Var(u_c) = (Var_pool(q_c) + tau^2) / 320, Var_pool with divisor N (draws with replacement).
    """
    n_img, c = len(labels), int(labels.max()) + 1
    conf = np.ones(n_img) if perfect else np.random.default_rng(97).beta(4, 1, n_img)
    q = conf[:, None] * np.eye(c)[labels] + (1 - conf[:, None]) / c  # [N, C]
    tau = 0.0 if perfect else 0.25
    truth = float(np.sqrt((q.var(0) + tau**2) / (UNITS * BATCH)).mean())
    block = 40

    def draw(rng, r, b):
        out = []
        for _ in range(b):
            idx = rng.integers(n_img, size=(r, block, BATCH))
            # q_k = a_k onehot(y_k) + (1 - a_k) / C: per (rep, unit, label) one weighted count, not 64 x C.
            cell = (np.arange(r * block)[:, None] * c + labels[idx].reshape(r * block, BATCH)).ravel()
            hits = np.bincount(cell, conf[idx].ravel(), r * block * c).reshape(r, block, c)
            rest = (1 - conf[idx]).sum(2, keepdims=True)
            means = (hits + rest / c) / BATCH
            out.append(means + tau / math.sqrt(BATCH) * rng.standard_normal(means.shape))
        return np.concatenate(out, 1)

    kind = "labels only" if perfect else "teacher"
    return Scenario(f"digits stream, {kind}", c, block, draw, truth)


def _digits_labels() -> np.ndarray:
    from dastat import data

    return data.load("digits").labels.numpy()


def _units(scn: Scenario, rng: np.random.Generator, reps: int, num_units: int) -> torch.Tensor:
    blocks = math.ceil(num_units / scn.block)
    return torch.from_numpy(scn.draw(rng, reps, blocks)[:, :num_units])


def fixed_coverage(scn: Scenario, num_sets: int, reps: int, seed: int) -> float:
    """Coverage of the probe's interval after ``num_sets`` sets (num_sets x 5 batch units)."""
    low, high = estimator.bounds(_units(scn, np.random.default_rng(seed), reps, num_sets * UNITS), CONFIDENCE, UNITS)
    return float(((low <= scn.truth) & (scn.truth <= high)).double().mean())


def stopping_coverage(scn: Scenario, rtol: float, reps: int, seed: int) -> tuple[float, float]:
    """Run the fast protocol's stopping rule (checks every 8 sets); coverage and mean sets at the stop."""
    rng = np.random.default_rng(seed)
    means = _units(scn, rng, reps, scn.block)
    running = torch.arange(reps)
    low, high, stop = torch.full((reps,), math.nan, dtype=torch.float64), torch.zeros(reps, dtype=torch.float64), \
        torch.zeros(reps)
    m = CHECK_EVERY * UNITS
    while len(running):
        if means.shape[1] < m:  # draw ahead, in whole blocks, so the prefix is not copied at every check
            ahead = math.ceil((max(m, 320) - means.shape[1]) / scn.block) * scn.block
            means = torch.cat([means, _units(scn, rng, len(running), ahead)], 1)
        head = means[:, :m]
        done = protocols.tight(head, rtol=rtol, min_sets=MIN_SETS, confidence=CONFIDENCE, units_per_set=UNITS) | (
            m >= MAX_SETS * UNITS)
        if bool(done.any()):
            lo, hi = estimator.bounds(head[done], CONFIDENCE, UNITS)
            low[running[done]], high[running[done]], stop[running[done]] = lo, hi, m / UNITS
            running, means = running[~done], means[~done]
        m += CHECK_EVERY * UNITS
    return float(((low <= scn.truth) & (scn.truth <= high)).double().mean()), float(stop.mean())


def paired_rejection(scn: Scenario, num_sets: int, reps: int, seed: int) -> float:
    """How often two schemes of equal T. stddev differ significantly on common units.

    Both share half of each unit (x, the common random numbers) and add their own half (x'): unit
    means (shared + own) / sqrt(2) keep the scenario's spread and T. stddev for both.
    """
    rng = np.random.default_rng(seed)
    shared, own_a, own_b = (_units(scn, rng, reps, num_sets * UNITS) for _ in range(3))
    centre = 0.1
    a = centre + (shared - shared.mean((0, 1)) + own_a - own_a.mean((0, 1))) / math.sqrt(2)
    b = centre + (shared - shared.mean((0, 1)) + own_b - own_b.mean((0, 1))) / math.sqrt(2)
    low, high, _ = estimator.paired_bounds(a, b, CONFIDENCE, UNITS)
    return float(((low > 0) | (high < 0)).double().mean())


def _band(reps: int, low: float, high: float) -> tuple[float, float]:
    """[low - 3 se, high + 3 se]: se = sqrt(p (1 - p) / reps), the Monte Carlo error of a rate near p = 0.95 or 0.05."""
    se = math.sqrt(0.95 * 0.05 / reps)
    return low - 3 * se, high + 3 * se


SYNTHETIC = [f(c) for f in (gaussian, skewed, label_like, heavy_tailed) for c in (10, 100, 200)]


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
    scn = label_stream(_digits_labels(), perfect=perfect)
    reps = 1000
    coverage = fixed_coverage(scn, 30, reps, seed=13)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name}: coverage {coverage:.3f} at 30 sets"


@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_paired_difference_rejects_equal_schemes_at_5_percent_on_the_digits_stream(perfect):
    scn = label_stream(_digits_labels(), perfect=perfect)
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
    scn = label_stream(_digits_labels(), perfect=perfect)
    means = _units(scn, np.random.default_rng(15), 1, 10_000)[0]
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
    scn = label_stream(_digits_labels(), perfect=perfect)
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
