"""Coverage of the probe's interval, at fixed set counts and at the stopping rule's stop, by simulation.

Set means are simulated directly (vectorised over repetitions) from scenarios whose T. stddev is
known: Gaussian, skewed and correlated (Gamma noise mixed across classes), label-like (multinomial
label shares of 320 images times a teacher's confidence, plus augmentation noise), heavy-tailed
(Student t, 10 df: kurtosis 4), and the digits label stream cut into sets exactly as the engine
cuts it (shuffled epochs of 64-image batches, the short last batch kept, 5 batches a set, sets
running on across epochs), so that sets of one epoch are negatively correlated.

The stream scenarios pass the stream's design to the interval, as the probe does; the synthetic
ones have independent sets and no design.

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
from dastat.probe.stream import BatchStream

CONFIDENCE = 0.95
CHECK_EVERY, MIN_SETS, MAX_SETS = 8, 20, 2000  # the fast protocol's defaults


@dataclass(frozen=True)
class Scenario:
    """Set means drawn in independent blocks of ``block`` sets, with the T. stddev they estimate."""

    name: str
    num_classes: int
    block: int
    draw: Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, reps, blocks) -> [reps, sets, C]
    truth: float
    design: estimator.Design | None = None  # how the sets were drawn (streams); None: independent sets


def gaussian(c: int) -> Scenario:
    sig = np.linspace(0.5, 1.5, c) * 1e-3
    return Scenario(f"gaussian C={c}", c, 8, lambda rng, r, b: 0.1 + rng.standard_normal((r, 8 * b, c)) * sig,
                    float(sig.mean()))


def skewed(c: int, shape: float = 2.0) -> Scenario:
    mix = np.eye(c) + 0.3 * np.random.default_rng(99).random((c, c))  # classes share noise: correlated
    # Var(Gamma(k, 1)) = k, so class c has stddev 1e-3 sqrt(k sum_j mix_cj^2).
    truth = float(np.mean(1e-3 * np.sqrt(shape * (mix**2).sum(1))))
    return Scenario(f"skewed C={c}", c, 8,
                    lambda rng, r, b: 0.1 + rng.gamma(shape, 1.0, (r, 8 * b, c)) @ mix.T * 1e-3, truth)


def label_like(c: int, images: int = 320, confidence: float = 0.8, noise: float = 2e-3) -> Scenario:
    shares = np.random.default_rng(98).dirichlet(np.ones(c) * 5)
    sd = noise / math.sqrt(c)

    def draw(rng, r, b):
        counts = rng.multinomial(images, shares, size=(r, 8 * b))
        return confidence * counts / images + (1 - confidence) / c + sd * rng.standard_normal((r, 8 * b, c))

    truth = float(np.mean(np.sqrt(confidence**2 * shares * (1 - shares) / images + sd**2)))
    return Scenario(f"label-like C={c}", c, 8, draw, truth)


def heavy_tailed(c: int, df: int = 10) -> Scenario:
    sig = np.linspace(0.5, 1.5, c) * 1e-3
    return Scenario(f"heavy-tailed C={c}", c, 8, lambda rng, r, b: 0.1 + rng.standard_t(df, (r, 8 * b, c)) * sig,
                    float(sig.mean() * math.sqrt(df / (df - 2))))


def label_stream(labels: np.ndarray, *, perfect: bool, batch_size: int = 64, batches_per_set: int = 5) -> Scenario:
    """The engine's sets over a real label stream; a block is one cycle of whole epochs and whole sets.

    Each image k has a fixed teacher probability q_k = a_k onehot(y_k) + (1 - a_k) / C (a_k = 1 for
    a perfect teacher), and each set adds independent augmentation noise of sd 0.25 / sqrt(n_set)
    (none for the perfect teacher). The truth is the limit of the estimator over many epochs:
    mean_c sqrt(mean over set positions of Var(u_c)), where a set's images from one epoch are a
    sample without replacement: Var = sum_g (n_g/n)^2 S_c^2 / n_g (1 - n_g / N).
    """
    n_img, c = len(labels), int(labels.max()) + 1
    stream = BatchStream(n_img, batch_size, seed=0, device=torch.device("cpu"))
    per_epoch = stream.batches_per_epoch
    epochs = math.lcm(per_epoch, batches_per_set) // per_epoch
    sets = epochs * per_epoch // batches_per_set
    sizes = np.array([len(stream.batch(b)) for b in range(per_epoch)])  # the engine's batches, short last one kept
    conf = np.ones(n_img) if perfect else np.random.default_rng(97).beta(4, 1, n_img)
    q = conf[:, None] * np.eye(c)[labels] + (1 - conf[:, None]) / c  # [N, C]
    tau = 0.0 if perfect else 0.25
    # Which epoch and how many images each set of the cycle takes from it.
    batch_epoch = np.arange(epochs * per_epoch) // per_epoch
    batch_size_of = np.tile(sizes, epochs)
    s2 = q.var(0, ddof=1)  # [C]
    var = np.zeros((sets, c))
    n_set = np.zeros(sets)
    for j in range(sets):
        bs = range(j * batches_per_set, (j + 1) * batches_per_set)
        n_set[j] = sum(batch_size_of[b] for b in bs)
        for g in {batch_epoch[b] for b in bs}:
            n_g = sum(batch_size_of[b] for b in bs if batch_epoch[b] == g)
            var[j] += (n_g / n_set[j]) ** 2 * s2 / n_g * (1 - n_g / n_img)
        var[j] += tau**2 / n_set[j]
    truth = float(np.sqrt(var.mean(0)).mean())

    # q_k = a_k onehot(y_k) + (1 - a_k) / C: a batch's sum is the a_k summed per label plus the
    # batch's sum of (1 - a_k) / C, so an epoch costs one weighted count per (batch, label), not N x C.
    position_batch = np.repeat(np.arange(per_epoch), sizes)  # [N]: the batch of each position in an epoch
    cells = per_epoch * c

    def draw(rng, r, b):
        batch_sums = []
        for _ in range(b * epochs):
            order = rng.permuted(np.broadcast_to(np.arange(n_img), (r, n_img)), axis=1)  # a shuffle per rep
            index = (np.arange(r)[:, None] * cells + position_batch * c + labels[order]).ravel()
            hits = np.bincount(index, conf[order].ravel(), r * cells).reshape(r, per_epoch, c)
            rest = np.bincount((np.arange(r)[:, None] * per_epoch + position_batch).ravel(),
                               (1 - conf[order]).ravel(), r * per_epoch).reshape(r, per_epoch, 1)
            batch_sums.append(hits + rest / c)  # [r, batches, C]
        sums = np.concatenate(batch_sums, 1).reshape(r, b * sets, batches_per_set, c).sum(2)
        n = np.tile(n_set, b)[None, :, None]
        return sums / n + tau / np.sqrt(n) * rng.standard_normal(sums.shape)

    kind = "labels only" if perfect else "teacher"
    return Scenario(f"digits stream, {kind}", c, sets, draw, truth,
                    estimator.Design(n_img, batch_size, batches_per_set))


def _digits_labels() -> np.ndarray:
    from dastat import data

    return data.load("digits").labels.numpy()


def _sets(scn: Scenario, rng: np.random.Generator, reps: int, num_sets: int) -> torch.Tensor:
    blocks = math.ceil(num_sets / scn.block)
    return torch.from_numpy(scn.draw(rng, reps, blocks)[:, :num_sets])


# "jackknife": the probe's interval (with the scenario's design, as the probe passes its own);
# "delta": the delta-method interval and the stopping rule that came with it (half-width at most rtol
# from 20 sets on), the method before the jackknife, for the table's "before" column.
METHODS = ("jackknife", "delta")
DELTA_MIN_SETS = 20


def _bounds(scn: Scenario, means: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    if method == "delta":
        est, half = estimator.stddev_of_means(means), estimator.analytic_halfwidth(means, CONFIDENCE)
        return est - half, est + half
    return estimator.bounds(means, CONFIDENCE, scn.design)


def _tight(scn: Scenario, means: torch.Tensor, rtol: float, method: str) -> torch.Tensor:
    if method == "delta":
        rel = estimator.analytic_halfwidth(means, CONFIDENCE) / estimator.stddev_of_means(means)
        return (rel <= rtol) & (means.shape[-2] >= DELTA_MIN_SETS)
    return protocols.tight(means, rtol=rtol, min_sets=MIN_SETS, confidence=CONFIDENCE, design=scn.design)


def fixed_coverage(scn: Scenario, num_sets: int, reps: int, seed: int, method: str = "jackknife") -> float:
    low, high = _bounds(scn, _sets(scn, np.random.default_rng(seed), reps, num_sets), method)
    return float(((low <= scn.truth) & (scn.truth <= high)).double().mean())


def stopping_coverage(scn: Scenario, rtol: float, reps: int, seed: int,
                      method: str = "jackknife") -> tuple[float, float]:
    """Run the fast protocol's stopping rule (checks every 8 sets); coverage and mean sets at the stop."""
    rng = np.random.default_rng(seed)
    means = _sets(scn, rng, reps, scn.block)
    running = torch.arange(reps)
    low, high, stop = torch.full((reps,), math.nan, dtype=torch.float64), torch.zeros(reps, dtype=torch.float64), \
        torch.zeros(reps)
    m = CHECK_EVERY
    while len(running):
        if means.shape[1] < m:  # draw ahead, in whole blocks, so the prefix is not copied at every check
            ahead = math.ceil((max(m, 64) - means.shape[1]) / scn.block) * scn.block
            means = torch.cat([means, _sets(scn, rng, len(running), ahead)], 1)
        head = means[:, :m]
        done = _tight(scn, head, rtol, method) | (m >= MAX_SETS)
        if bool(done.any()):
            lo, hi = _bounds(scn, head[done], method)
            low[running[done]], high[running[done]], stop[running[done]] = lo, hi, float(m)
            running, means = running[~done], means[~done]
        m += CHECK_EVERY
    return float(((low <= scn.truth) & (scn.truth <= high)).double().mean()), float(stop.mean())


def paired_rejection(scn: Scenario, num_sets: int, reps: int, seed: int) -> float:
    """How often two schemes of equal T. stddev differ significantly on common sets.

    Both share half of each set (x, the common random numbers) and add their own half (x'): set
    means (shared + own) / sqrt(2) keep the scenario's spread and T. stddev for both.
    """
    rng = np.random.default_rng(seed)
    shared, own_a, own_b = (_sets(scn, rng, reps, num_sets) for _ in range(3))
    centre = 0.1
    a = centre + (shared - shared.mean((0, 1)) + own_a - own_a.mean((0, 1))) / math.sqrt(2)
    b = centre + (shared - shared.mean((0, 1)) + own_b - own_b.mean((0, 1))) / math.sqrt(2)
    low, high, _ = estimator.paired_bounds(a, b, CONFIDENCE, scn.design)
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


def test_interval_covers_on_the_digits_label_stream():
    # Labels only: all the variance is between images, the worst case of within-epoch dependence.
    scn = label_stream(_digits_labels(), perfect=True)
    reps = 1000
    coverage = fixed_coverage(scn, 30, reps, seed=13)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name}: coverage {coverage:.3f} at 30 sets"


def test_the_design_correction_widens_the_interval_and_centres_it_lower_on_the_label_stream():
    # Without the design the jackknife takes the sets as independent. Sets of one epoch share out a
    # fixed total, so s^2 overstates a set's variance (centre too high) and its spread is
    # understated (too narrow): the corrected interval is lower and wider on average.
    scn = label_stream(_digits_labels(), perfect=True)
    means = _sets(scn, np.random.default_rng(16), 300, 30)
    est, plain_bias, plain_se, plain_df = estimator.log_jackknife(means)
    _, bias, se, df = estimator.log_jackknife(means, scn.design)
    assert float((est - bias).mean()) < float((est - plain_bias).mean())
    assert float(se.mean()) > float(plain_se.mean()) and float(df.mean()) < float(plain_df.mean())


def test_the_design_keeps_independent_rows_covered():
    # Rows drawn independently (no image-level variance): the design's correction must not spoil the
    # coverage of sets that are in fact independent, since the probe always passes its design.
    base = gaussian(10)
    scn = Scenario(base.name, base.num_classes, base.block, base.draw, base.truth, estimator.Design(1437, 64, 5))
    reps = 1000
    coverage = fixed_coverage(scn, 30, reps, seed=17)
    low, high = _band(reps, 0.93, 0.97)
    assert low <= coverage <= high, f"{scn.name} with a design: coverage {coverage:.3f} at 30 sets"


@pytest.mark.parametrize("perfect", [True, False], ids=["labels only", "teacher"])
def test_paired_difference_rejects_equal_schemes_at_5_percent_on_the_digits_stream(perfect):
    scn = label_stream(_digits_labels(), perfect=perfect)
    reps = 600
    rate = paired_rejection(scn, 30, reps, seed=18)
    low, high = _band(reps, 0.03, 0.07)
    assert low <= rate <= high, f"{scn.name}: false-positive rate {rate:.3f} at 30 sets"


@pytest.mark.parametrize("scn", [gaussian(10), skewed(10), label_like(200)], ids=lambda s: s.name)
def test_paired_difference_rejects_equal_schemes_at_5_percent(scn):
    reps = 1000
    rate = paired_rejection(scn, 24, reps, seed=14)
    low, high = _band(reps, 0.03, 0.07)
    assert low <= rate <= high, f"{scn.name}: false-positive rate {rate:.3f} at 24 sets"


def test_digits_truth_matches_a_long_stream():
    # The analytic truth of the stream scenario against the estimator over 200 cycles of epochs.
    scn = label_stream(_digits_labels(), perfect=False)
    means = _sets(scn, np.random.default_rng(15), 1, 200 * scn.block)[0]
    est = float(estimator.stddev_of_means(means))
    # Relative sampling error of a stddev from M near-Gaussian sets, averaged over 10 partly
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
