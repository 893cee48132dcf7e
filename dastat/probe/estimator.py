"""The T. stddev estimator and its intervals (paper Eq. 9-10; docs/method.md, "T. stddev and its estimator").

A probe closes M sets; set i has a mean probability vector u_i (C classes). T. stddev is
mean_c std_i(u_ic) with the unbiased (M-1) estimator. Its interval is a jackknife over sets:
bias-corrected, on the log scale, with a t quantile (cheap and vectorised: the stopping rule
and ``--resolve`` use it between rounds). The delta-method and bootstrap intervals remain
for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from dastat.checks import check_choice
from dastat.errors import InvalidArgumentError


def t_stddev(set_means: Tensor) -> Tensor:
    """Stddev of the mean probability over sets, averaged over classes (lower is better).

    Parameters
    ----------
    set_means : Tensor, float, shape [..., M, C]
        Mean teacher probability of each of M >= 2 sets (leading dims: independent runs).

    Returns
    -------
    Tensor
        Shape [...] (0-d for one run), on the input's device (no host sync).
    """
    return set_means.std(dim=-2, correction=1).mean(-1)


def influence(set_means: Tensor) -> Tensor:
    """Per-set influence values of :func:`t_stddev` (shape [..., M]); their mean is ~0.

    For one class, the unbiased variance s² has influence (d_i² - s²) for deviation d_i, so s
    has (d_i² - s²) / (2 s); T. stddev averages that over classes.
    """
    m = set_means.shape[-2]
    dev = set_means - set_means.mean(-2, keepdim=True)  # [..., M, C]
    var = (dev**2).sum(-2, keepdim=True) / (m - 1)  # [..., 1, C]
    std = var.sqrt()
    safe = torch.where(std > 0, std, torch.ones_like(std))
    per_class = (dev**2 * m / (m - 1) - var) / (2 * safe)  # [..., M, C]
    return torch.where(std > 0, per_class, torch.zeros_like(per_class)).mean(-1)


def jackknife_values(set_means: Tensor) -> Tensor:
    """T. stddev with each set left out in turn: shape [..., M] for set means [..., M, C], M >= 3.

    Removing set i changes the sum of squared deviations by d_i² M / (M - 1) (d_i: its deviation
    from the mean), so all M values come from one pass.
    """
    m = set_means.shape[-2]
    dev = set_means - set_means.mean(-2, keepdim=True)  # [..., M, C]
    ss = (dev**2).sum(-2, keepdim=True)  # [..., 1, C]
    return ((ss - dev**2 * (m / (m - 1))) / (m - 2)).clamp_min(0).sqrt().mean(-1)


def _moments(values: Tensor, estimate: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Jackknife bias, standard error and effective degrees of freedom from leave-one-out ``values`` [..., M]."""
    m = values.shape[-1]
    centre = values.mean(-1)
    dev = values - centre[..., None]
    bias = (m - 1) * (centre - estimate)
    second = (dev**2).mean(-1)
    se = ((m - 1) * second).sqrt()
    # The spread of the leave-one-out values is itself estimated from M sets; when they are
    # heavy-tailed it is noisier than the M - 1 degrees of freedom of Gaussian values. Var(s²)/σ⁴
    # = (kurtosis - 1)/M, and a chi-square with df degrees of freedom has 2/df, so df = 2M/(k - 1)
    # (the M - 1 of the Gaussian case at kurtosis 3), capped at M - 1.
    safe = torch.where(second > 0, second, torch.ones_like(second))
    kurtosis = torch.where(second > 0, (dev**4).mean(-1) / safe**2, torch.full_like(second, 3.0))
    df = (2 * (m - 1) / (kurtosis - 1).clamp_min(1e-12)).clamp(1, m - 1)
    return bias, se, df


def t_value(confidence: float, df: Tensor | float) -> Tensor:
    """The two-sided Student-t quantile for ``confidence`` at ``df`` degrees of freedom (elementwise)."""
    df = torch.as_tensor(df, dtype=torch.float64)
    return torch.from_numpy(np.asarray(stats.t.ppf(0.5 + confidence / 2, df.cpu().numpy()))).to(df)


def log_jackknife(set_means: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """T. stddev on the log scale with its jackknife bias, standard error and effective df (each [...]).

    The bias of a standard deviation is O(1/M) (-1/(4M) for Gaussian sets, more for skewed or
    heavy-tailed ones) and does not shrink when it is averaged over classes, while the standard
    error does; the jackknife estimates it from the sets. On the log scale the standard error no
    longer grows with the estimate, so a low estimate does not come with a too-narrow interval.
    """
    estimate = t_stddev(set_means).log()
    values = jackknife_values(set_means).clamp_min(torch.finfo(set_means.dtype).tiny).log()
    return (estimate, *_moments(values, estimate))


def bounds(set_means: Tensor, confidence: float = 0.95) -> tuple[Tensor, Tensor]:
    """The interval of :func:`interval` for set means [..., M, C], M >= 3: (ci_low, ci_high), each [...]."""
    log_est, bias, se, df = log_jackknife(set_means)
    half = t_value(confidence, df).to(se) * se
    centre = log_est - bias
    return (centre - half).exp(), (centre + half).exp()


def rel_halfwidth(set_means: Tensor, confidence: float = 0.95) -> Tensor:
    """Half-width of the interval relative to the estimate, shape [...] (what ``rtol`` bounds)."""
    low, high = bounds(set_means, confidence)
    estimate = t_stddev(set_means)
    ratio = (high - low) / 2 / torch.where(estimate > 0, estimate, torch.ones_like(estimate))
    return torch.where(estimate > 0, ratio, torch.full_like(ratio, math.inf))


def z_value(confidence: float) -> float:
    """The two-sided standard-normal quantile for ``confidence`` (1.96 at 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def analytic_halfwidth(set_means: Tensor, confidence: float = 0.95) -> Tensor:
    """Half-width of the delta-method interval of :func:`t_stddev` (shape [...], no host sync)."""
    m = set_means.shape[-2]
    return z_value(confidence) * influence(set_means).std(dim=-1, correction=1) / math.sqrt(m)


def bootstrap_counts(num_sets: int, n_resamples: int, generator: torch.Generator) -> Tensor:
    """Resampling counts [n_resamples, num_sets] (float64) for a bootstrap over sets."""
    draws = torch.randint(num_sets, (n_resamples, num_sets), generator=generator, device=generator.device)
    counts = torch.zeros(n_resamples, num_sets, dtype=torch.float64, device=generator.device)
    return counts.scatter_add_(1, draws, torch.ones_like(draws, dtype=torch.float64))


def t_stddev_resampled(set_means: Tensor, counts: Tensor) -> Tensor:
    """T. stddev of each resample described by ``counts`` [R, M]; returns [R]."""
    m = set_means.shape[0]
    centred = (set_means - set_means.mean(0)).to(counts)  # centring keeps s1**2 and s2 apart
    s1 = counts @ centred  # [R, C]
    s2 = counts @ centred**2
    var = ((s2 - s1**2 / m) / (m - 1)).clamp_min(0)
    return var.sqrt().mean(1)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided interval.

    ``estimate`` is the plain estimator (the paper's number); ``bias`` is the jackknife estimate of
    its bias, which the interval corrects for (NaN for the other methods); ``df`` the degrees of
    freedom of its t quantile.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str
    n_sets: int = 0
    bias: float = math.nan
    df: float = math.nan

    @property
    def halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    @property
    def rel_halfwidth(self) -> float:
        return self.halfwidth / self.estimate if self.estimate > 0 else math.inf


METHODS = ("jackknife", "analytic", "bootstrap")


def interval(
    set_means: Tensor,
    confidence: float = 0.95,
    *,
    method: str = "jackknife",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> Interval:
    """T. stddev with its confidence interval over sets.

    ``jackknife`` (the default, the one the probe reports and stops on): a bias-corrected t
    interval on the log scale, from leaving out one set at a time, with the t quantile's degrees
    of freedom reduced when the leave-one-out values are heavy-tailed. It covers at its nominal
    level from a few dozen sets where the delta method does not
    (docs/method.md, "T. stddev and its estimator"). ``analytic`` is the delta-method interval and
    ``bootstrap`` the percentile bootstrap over sets, kept for comparison.

    Parameters
    ----------
    set_means : Tensor, float, shape [M, C]
        Mean teacher probability of each set: M >= 3 sets (M >= 2 for analytic/bootstrap).
    confidence : float
        Two-sided level, e.g. 0.95.
    method : {"jackknife", "analytic", "bootstrap"}
    n_resamples, generator
        For the bootstrap only (seeded generator for reproducible intervals).

    Returns
    -------
    Interval
        ``estimate`` (the plain estimator), ``ci_low``, ``ci_high``, and for the jackknife its
        ``bias`` and ``df``.

    Raises
    ------
    InvalidArgumentError
        ``set_means`` not [M, C] with enough sets, or an unknown method.
    """
    method = check_choice(method, "method", METHODS)
    fewest = 3 if method == "jackknife" else 2
    if not isinstance(set_means, Tensor) or set_means.ndim != 2 or set_means.shape[0] < fewest:
        shape = tuple(set_means.shape) if isinstance(set_means, Tensor) else type(set_means).__name__
        raise InvalidArgumentError(f"set_means must be a tensor [M, C] with M >= {fewest} sets for the "
                                   f"{method} interval; got {shape}")
    set_means = set_means.double()
    m = set_means.shape[0]
    estimate = float(t_stddev(set_means))
    if method == "jackknife":
        if estimate == 0:  # every set alike: nothing varies, the interval is the point
            return Interval(0.0, 0.0, 0.0, confidence, method, m, 0.0, m - 1.0)
        low, high = bounds(set_means, confidence)
        log_est, bias, _, df = log_jackknife(set_means)
        corrected = math.exp(float(log_est - bias))
        return Interval(estimate, float(low), float(high), confidence, method, m, estimate - corrected, float(df))
    if method == "analytic":
        half = float(analytic_halfwidth(set_means, confidence))
        return Interval(estimate, estimate - half, estimate + half, confidence, method, m)
    g = generator or torch.Generator(device=set_means.device).manual_seed(0)
    values = t_stddev_resampled(set_means, bootstrap_counts(m, n_resamples, g))
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=values.dtype, device=values.device)
    low, high = torch.quantile(values, q).tolist()
    return Interval(estimate, low, high, confidence, method, m)


@dataclass(frozen=True)
class PairedDifference:
    """T. stddev of scheme b minus scheme a on their common sets, with its interval and p-value."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_sets: int
    method: str = "jackknife"

    @property
    def is_significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def paired_bounds(means_a: Tensor, means_b: Tensor, confidence: float = 0.95) -> tuple[Tensor, Tensor, Tensor]:
    """Jackknife interval and p-value of t_stddev(b) - t_stddev(a) on common sets [..., M, C], M >= 3.

    Both schemes leave out the same set, so what the two share (the x half of every set, the
    image order) cancels in the difference. Returns (ci_low, ci_high, p_value), each [...].
    """
    diff = t_stddev(means_b) - t_stddev(means_a)
    values = jackknife_values(means_b) - jackknife_values(means_a)  # [..., M]
    bias, se, df = _moments(values, diff)
    centre = diff - bias
    half = t_value(confidence, df).to(se) * se
    tstat = centre.abs() / torch.where(se > 0, se, torch.ones_like(se))
    p = torch.from_numpy(np.asarray(2 * stats.t.sf(tstat.cpu().numpy(), df.cpu().numpy()))).to(se)
    p = torch.where(se > 0, p, torch.where(centre == 0, torch.ones_like(p), torch.zeros_like(p)))
    return centre - half, centre + half, p


def paired_difference(
    means_a: Tensor,
    means_b: Tensor,
    confidence: float = 0.95,
    *,
    method: str = "jackknife",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> PairedDifference:
    """T. stddev of b minus a on the sets both closed (the first min(M_a, M_b)), with a paired interval.

    ``jackknife`` (default): the bias-corrected jackknife t interval of the difference, leaving out
    the same set of both schemes (see :func:`interval`). ``bootstrap``: the paired percentile
    bootstrap over set index, kept for comparison (``n_resamples``, ``generator``).
    """
    method = check_choice(method, "method", ("jackknife", "bootstrap"))
    m = min(means_a.shape[0], means_b.shape[0])
    if m < 3:
        raise InvalidArgumentError(f"a paired difference needs at least 3 common sets; got {m}")
    a, b = means_a[:m].double(), means_b[:m].double()
    diff = float(t_stddev(b) - t_stddev(a))
    if method == "jackknife":
        low, high, p = paired_bounds(a, b, confidence)
        return PairedDifference(diff, float(low), float(high), float(p), m, method)
    g = generator or torch.Generator(device=a.device).manual_seed(0)
    counts = bootstrap_counts(m, n_resamples, g)
    diffs = t_stddev_resampled(b, counts) - t_stddev_resampled(a, counts)
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=diffs.dtype, device=diffs.device)
    low, high = torch.quantile(diffs, q).tolist()
    # Two-sided bootstrap p-value: how often the resampled difference falls on the other side of 0.
    below, above = float((diffs <= 0).double().mean()), float((diffs >= 0).double().mean())
    return PairedDifference(diff, low, high, min(1.0, 2 * min(below, above)), m, method)
