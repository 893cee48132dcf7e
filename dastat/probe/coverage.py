"""Coverage of the probe's interval by simulation, from scenarios whose T. stddev is known.

Protocol fast estimates T. stddev from independent batch units
(docs/method.md, "T. stddev and its estimator"). Here unit means are simulated directly (vectorised
over repetitions) and the interval is the probe's, with 5 units a set. Scenarios: Gaussian, skewed and
correlated (Gamma noise mixed across classes), label-like (multinomial label shares of a 64-image batch
times a teacher's confidence, plus augmentation noise), heavy-tailed (Student t, 10 df: kurtosis 4), and
the digits label stream drawn as the engine draws it: each batch of 64 images drawn independently, with
replacement, from the digits training labels. tests/probe/test_coverage.py asserts the coverage;
tools/coverage_table.py writes the table in results/coverage/.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dastat.probe import estimator, protocols
from dastat.probe.options import ProbeOptions

_DEFAULTS = ProbeOptions()  # the fast protocol's defaults: what the coverage is claimed for
CONFIDENCE = _DEFAULTS.confidence
CHECK_EVERY, MIN_SETS, MAX_SETS = _DEFAULTS.check_every, _DEFAULTS.min_sets, _DEFAULTS.max_sets  # in sets
UNITS = _DEFAULTS.set_blocks // 2  # batch units a set (5 batches of 64)
BATCH = _DEFAULTS.batch_size


@dataclass(frozen=True)
class Scenario:
    """Unit means drawn in independent blocks of ``block`` units; ``truth``: the T. stddev (sets of UNITS units)."""

    name: str
    num_classes: int
    block: int
    draw: Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, reps, blocks) -> [reps, units, C]
    truth: float


def gaussian(c: int) -> Scenario:
    """Independent Gaussian noise, class stddevs spread over 0.5-1.5e-3."""
    sig = np.linspace(0.5, 1.5, c) * 1e-3
    return Scenario(f"gaussian C={c}", c, 40, lambda rng, r, b: 0.1 + rng.standard_normal((r, 40 * b, c)) * sig,
                    float(sig.mean()) / math.sqrt(UNITS))


def skewed(c: int, shape: float = 2.0) -> Scenario:
    """Gamma noise mixed across classes: skewed and correlated."""
    mix = np.eye(c) + 0.3 * np.random.default_rng(99).random((c, c))  # classes share noise: correlated
    # Var(Gamma(k, 1)) = k, so class c has stddev 1e-3 sqrt(k sum_j mix_cj^2).
    truth = float(np.mean(1e-3 * np.sqrt(shape * (mix**2).sum(1)))) / math.sqrt(UNITS)
    return Scenario(f"skewed C={c}", c, 40,
                    lambda rng, r, b: 0.1 + rng.gamma(shape, 1.0, (r, 40 * b, c)) @ mix.T * 1e-3, truth)


def label_like(c: int, images: int = BATCH, confidence: float = 0.8, noise: float = 2e-3) -> Scenario:
    """Multinomial label shares of a batch times a teacher's confidence, plus augmentation noise."""
    shares = np.random.default_rng(98).dirichlet(np.ones(c) * 5)
    sd = noise / math.sqrt(c)

    def draw(rng, r, b):
        counts = rng.multinomial(images, shares, size=(r, 40 * b))
        return confidence * counts / images + (1 - confidence) / c + sd * rng.standard_normal((r, 40 * b, c))

    truth = float(np.mean(np.sqrt((confidence**2 * shares * (1 - shares) / images + sd**2) / UNITS)))
    return Scenario(f"label-like C={c}", c, 40, draw, truth)


def heavy_tailed(c: int, df: int = 10) -> Scenario:
    """Student t noise (``df`` degrees of freedom; kurtosis 4 at 10)."""
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


def digits_labels() -> np.ndarray:
    """The digits training labels, the pool of :func:`label_stream`."""
    from dastat import data

    return data.load("digits").labels.numpy()


def unit_means(scn: Scenario, rng: np.random.Generator, reps: int, num_units: int) -> torch.Tensor:
    """``num_units`` unit means of ``reps`` repetitions, ``[reps, num_units, C]``."""
    blocks = math.ceil(num_units / scn.block)
    return torch.from_numpy(scn.draw(rng, reps, blocks)[:, :num_units])


def fixed_coverage(scn: Scenario, num_sets: int, reps: int, seed: int) -> float:
    """Coverage of the probe's interval after ``num_sets`` sets (num_sets x 5 batch units)."""
    means = unit_means(scn, np.random.default_rng(seed), reps, num_sets * UNITS)
    low, high = estimator.bounds(means, CONFIDENCE, UNITS)
    return float(((low <= scn.truth) & (scn.truth <= high)).double().mean())


def stopping_coverage(scn: Scenario, rtol: float, reps: int, seed: int) -> tuple[float, float]:
    """Run the fast protocol's stopping rule (checks every 8 sets); coverage and mean sets at the stop."""
    rng = np.random.default_rng(seed)
    means = unit_means(scn, rng, reps, scn.block)
    running = torch.arange(reps)
    low, high, stop = torch.full((reps,), math.nan, dtype=torch.float64), torch.zeros(reps, dtype=torch.float64), \
        torch.zeros(reps)
    m = CHECK_EVERY * UNITS
    while len(running):
        if means.shape[1] < m:  # draw ahead, in whole blocks, so the prefix is not copied at every check
            ahead = math.ceil((max(m, 320) - means.shape[1]) / scn.block) * scn.block
            means = torch.cat([means, unit_means(scn, rng, len(running), ahead)], 1)
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
    shared, own_a, own_b = (unit_means(scn, rng, reps, num_sets * UNITS) for _ in range(3))
    centre = 0.1
    a = centre + (shared - shared.mean((0, 1)) + own_a - own_a.mean((0, 1))) / math.sqrt(2)
    b = centre + (shared - shared.mean((0, 1)) + own_b - own_b.mean((0, 1))) / math.sqrt(2)
    low, high, _ = estimator.paired_bounds(a, b, CONFIDENCE, UNITS)
    return float(((low > 0) | (high < 0)).double().mean())


SYNTHETIC = [f(c) for f in (gaussian, skewed, label_like, heavy_tailed) for c in (10, 100, 200)]
