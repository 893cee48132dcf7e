"""Confidence intervals for a correlation: Fisher's z, and the bootstrap over points (BCa / percentile)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from dastat.stats.coefficients import coefficient


@dataclass(frozen=True)
class CoefficientInterval:
    """A two-sided interval on a correlation coefficient and how it was made.

    Not :class:`dastat.probe.Interval`, which holds a T. stddev estimate with its interval.
    """

    low: float
    high: float
    method: str  # "fisher_z" | "bca" | "percentile" | "none"
    note: str = ""  # why a fallback was taken, "" otherwise


def fisher_z(r: float, n: int, confidence: float) -> CoefficientInterval:
    """Fisher-z interval for Pearson's r: tanh(atanh r ± z_{1-α/2} / sqrt(n - 3)).

    The same interval as scipy's ``pearsonr(...).confidence_interval()``; for n <= 3 it is the whole of
    [-1, 1] (the standard error is infinite), and for |r| = 1 it collapses onto r.
    """
    if n <= 3:
        return CoefficientInterval(-1.0, 1.0, "fisher_z", "n <= 3: the Fisher-z standard error is infinite")
    z = math.atanh(r) if abs(r) < 1 else math.copysign(math.inf, r)
    half = float(ndtri(0.5 + confidence / 2)) / math.sqrt(n - 3)
    return CoefficientInterval(math.tanh(z - half), math.tanh(z + half), "fisher_z")


def bootstrap_distribution(
    method: str, x: np.ndarray, y: np.ndarray, *, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The coefficient on ``n_resamples`` resamples of the (x, y) points, drawn with replacement: [B].

    Resamples whose x or y came out constant have no coefficient (NaN) and are left in; the caller
    decides what to do with them.
    """
    n = len(x)
    idx = rng.integers(0, n, size=(n_resamples, n))  # [B, n]
    return coefficient(method, x[idx], y[idx])


def jackknife(method: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The coefficient with each point left out in turn: [n]."""
    n = len(x)
    keep = ~np.eye(n, dtype=bool)
    idx = np.broadcast_to(np.arange(n), (n, n))[keep].reshape(n, n - 1)  # row i lacks point i
    return coefficient(method, x[idx], y[idx])


def bca(
    estimate: float, boot: np.ndarray, jack: np.ndarray, confidence: float
) -> CoefficientInterval:
    """Bias-corrected and accelerated interval (Efron 1987; Efron & Tibshirani 1993, §14.3).

    Falls back to the percentile interval, saying so in ``note``, where BCa is undefined: the bias
    correction is infinite (every resample on one side of the estimate) or the jackknife has no spread
    (e.g. r = ±1 with every leave-one-out value ±1 too), which leaves the acceleration 0/0.
    """
    boot = boot[np.isfinite(boot)]
    alpha = (1 - confidence) / 2
    if boot.size == 0:
        return CoefficientInterval(math.nan, math.nan, "none", "no resample had a defined coefficient")
    # Ties count half, as scipy.stats.bootstrap: Kendall's tau takes few distinct values at small n.
    share_below = (np.count_nonzero(boot < estimate) + np.count_nonzero(boot <= estimate)) / (2 * boot.size)
    z0 = float(ndtri(share_below))
    jack = jack[np.isfinite(jack)]
    spread = jack.mean() - jack if jack.size else np.zeros(0)
    denom = 6.0 * float((spread**2).sum()) ** 1.5
    if not math.isfinite(z0) or denom == 0 or not np.isfinite(denom):
        why = ("every resample fell on one side of the estimate" if not math.isfinite(z0)
               else "the jackknife values have no spread (e.g. r = ±1)")
        low, high = np.quantile(boot, [alpha, 1 - alpha])
        return CoefficientInterval(float(low), float(high), "percentile", f"BCa undefined ({why}): percentile interval")
    accel = float((spread**3).sum()) / denom
    levels = []
    for z_alpha in (ndtri(alpha), ndtri(1 - alpha)):
        shifted = z0 + z_alpha
        levels.append(float(ndtr(z0 + shifted / (1 - accel * shifted))))
    low, high = np.quantile(boot, levels)
    return CoefficientInterval(float(low), float(high), "bca")


def percentile(boot: np.ndarray, confidence: float) -> CoefficientInterval:
    """Plain percentile interval of a bootstrap distribution (NaN resamples ignored)."""
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return CoefficientInterval(math.nan, math.nan, "none", "no resample had a defined coefficient")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return CoefficientInterval(float(low), float(high), "percentile")

