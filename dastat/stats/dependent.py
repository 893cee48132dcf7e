"""Two correlations that share a variable, from one sample: is r(y, a) different from r(y, b)?

Williams' t, Steiger's z and Zou's interval take the three correlations among y, a and b and the
sample size n (normal theory); the bootstrap functions resample the points themselves and serve the
rank correlations, which have no such formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.special import ndtr

from dastat.stats import intervals
from dastat.stats.coefficients import coefficient


@dataclass(frozen=True)
class DependentTest:
    """A test of r_ya = r_yb: its statistic, degrees of freedom (inf for a z test) and p-value."""

    statistic: float
    df: float
    p_value: float


def _p_two_sided(statistic: float, df: float) -> float:
    if not math.isfinite(statistic):
        return math.nan
    if math.isinf(df):
        return float(2 * ndtr(-abs(statistic)))
    return float(2 * sps.t.sf(abs(statistic), df))


def williams_t(r_ya: float, r_yb: float, r_ab: float, n: int) -> DependentTest:
    """Williams' (1959) t for H0: rho_ya = rho_yb, on n - 3 degrees of freedom.

    As given by Steiger (1980, Psychological Bulletin 87, 245-251), with |R| the determinant of
    the 3 x 3 correlation matrix and r_bar = (r_ya + r_yb) / 2:
    t = (r_ya - r_yb) sqrt((n - 1)(1 + r_ab) / (2 (n - 1)/(n - 3) |R| + r_bar^2 (1 - r_ab)^3)).
    Steiger recommends it over Hotelling's t; Hittner, May & Silver (2003) found it close to
    nominal in simulations. n <= 3 gives NaN.
    """
    if n <= 3:
        return DependentTest(math.nan, math.nan, math.nan)
    det = 1 - r_ya**2 - r_yb**2 - r_ab**2 + 2 * r_ya * r_yb * r_ab
    r_bar = (r_ya + r_yb) / 2
    denom = 2 * (n - 1) / (n - 3) * det + r_bar**2 * (1 - r_ab) ** 3
    t = (r_ya - r_yb) * math.sqrt((n - 1) * (1 + r_ab) / denom) if denom > 0 else math.nan
    return DependentTest(t, float(n - 3), _p_two_sided(t, n - 3))


def steiger_covariance(r_bar: float, r_ab: float) -> float:
    """Correlation of atanh r_ya and atanh r_yb under H0 (Steiger 1980, with the pooled r_bar)."""
    psi = r_ab * (1 - 2 * r_bar**2) - 0.5 * r_bar**2 * (1 - 2 * r_bar**2 - r_ab**2)
    return psi / (1 - r_bar**2) ** 2


def steiger_z(r_ya: float, r_yb: float, r_ab: float, n: int) -> DependentTest:
    """Steiger's (1980) Z1*: Fisher-z difference over its standard error under H0, pooled r_bar.

    z = (atanh r_ya - atanh r_yb) sqrt(n - 3) / sqrt(2 - 2 s), s from :func:`steiger_covariance`
    at r_bar = (r_ya + r_yb) / 2. n <= 3 or |r| = 1 gives NaN.
    """
    if n <= 3 or max(abs(r_ya), abs(r_yb)) >= 1:
        return DependentTest(math.nan, math.inf, math.nan)
    s = steiger_covariance((r_ya + r_yb) / 2, r_ab)
    z = (math.atanh(r_ya) - math.atanh(r_yb)) * math.sqrt(n - 3) / math.sqrt(2 - 2 * s) if s < 1 else math.nan
    return DependentTest(z, math.inf, _p_two_sided(z, math.inf))


def steiger_variance(r_ya: float, r_yb: float, r_ab: float, n: int) -> float:
    """Variance of atanh r_ya - atanh r_yb under H0 (Steiger 1980): (2 - 2 s) / (n - 3)."""
    return (2 - 2 * steiger_covariance((r_ya + r_yb) / 2, r_ab)) / (n - 3)


def zou_interval(r_ya: float, r_yb: float, r_ab: float, n: int, confidence: float) -> intervals.CoefficientInterval:
    """Zou's (2007, Psychological Methods 12, 399-413) interval for r_ya - r_yb, overlapping case.

    Built from each correlation's Fisher-z interval (l, u) and the correlation of r_ya with r_yb,
    c = ((r_ab - r_ya r_yb / 2)(1 - r_ya^2 - r_yb^2 - r_ab^2) + r_ab^3) / ((1 - r_ya^2)(1 - r_yb^2)):
    [d - sqrt((r_ya - l_a)^2 + (u_b - r_yb)^2 - 2c (r_ya - l_a)(u_b - r_yb)),
     d + sqrt((u_a - r_ya)^2 + (r_yb - l_b)^2 - 2c (u_a - r_ya)(r_yb - l_b))].
    """
    if n <= 3 or max(abs(r_ya), abs(r_yb)) >= 1:
        return intervals.CoefficientInterval(math.nan, math.nan, "none",
                                             "n <= 3 or |r| = 1: Zou's interval is undefined")
    a, b = intervals.fisher_z(r_ya, n, confidence), intervals.fisher_z(r_yb, n, confidence)
    c = (((r_ab - r_ya * r_yb / 2) * (1 - r_ya**2 - r_yb**2 - r_ab**2) + r_ab**3)
         / ((1 - r_ya**2) * (1 - r_yb**2)))
    d = r_ya - r_yb
    low = d - math.sqrt(max(0.0, (r_ya - a.low) ** 2 + (b.high - r_yb) ** 2
                            - 2 * c * (r_ya - a.low) * (b.high - r_yb)))
    high = d + math.sqrt(max(0.0, (a.high - r_ya) ** 2 + (r_yb - b.low) ** 2
                             - 2 * c * (a.high - r_ya) * (r_yb - b.low)))
    return intervals.CoefficientInterval(low, high, "zou2007")


def bootstrap_p_value(boot: np.ndarray) -> float:
    """Two-sided p-value of "the difference is 0" from its bootstrap distribution [B].

    Twice the smaller count of resamples on either side of 0 (ties count half), each count plus one
    over B + 1, as a Monte Carlo p-value: never below 2 / (B + 1), so a bootstrap never reports
    p = 0 (docs/method.md, "Teacher-side predictors"). NaN resamples are left out.
    """
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return math.nan
    below = (np.count_nonzero(boot < 0) + np.count_nonzero(boot <= 0)) / 2
    tail = min(below, boot.size - below)
    return float(min(1.0, 2 * (tail + 1) / (boot.size + 1)))


def bootstrap_differences(
    method: str, y: np.ndarray, predictors: np.ndarray, *, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Each predictor's coefficient with y on the same resamples of the n points: [B, P].

    ``predictors`` is [n, P]; resampling whole points keeps the dependence between the predictors,
    so the column differences of the result are draws of the differences of the coefficients.
    """
    n = len(y)
    idx = rng.integers(0, n, size=(n_resamples, n))  # [B, n]
    y_boot = y[idx]
    return np.stack([coefficient(method, predictors[:, j][idx], y_boot)
                     for j in range(predictors.shape[1])], axis=1)
