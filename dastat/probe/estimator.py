"""The T. stddev estimator and its intervals (paper Eq. 9-10; docs/method.md, "T. stddev and its estimator").

A probe closes M sets; set i has a mean probability vector u_i (C classes). T. stddev is
mean_c std_i(u_ic) with the unbiased (M-1) estimator. Its interval comes from the influence
function of that statistic (a delta-method interval, cheap enough for the stopping rule) or
from a bootstrap over sets; both treat sets as exchangeable draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import torch
from torch import Tensor

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
    """A point estimate and its two-sided interval."""

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str

    @property
    def halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    @property
    def rel_halfwidth(self) -> float:
        return self.halfwidth / self.estimate if self.estimate > 0 else math.inf


def interval(
    set_means: Tensor,
    *,
    confidence: float = 0.95,
    method: str = "analytic",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> Interval:
    """T. stddev with its interval: ``analytic`` (delta method) or ``bootstrap`` (percentile).

    Parameters
    ----------
    set_means : Tensor, float, shape [M, C]
        Mean teacher probability of each set, M >= 2.
    confidence : float
        Two-sided level, e.g. 0.95.
    method : {"analytic", "bootstrap"}
    n_resamples, generator
        For the bootstrap only (seeded generator for reproducible intervals).
    """
    if set_means.ndim != 2 or set_means.shape[0] < 2:
        raise InvalidArgumentError(f"set_means must be [M, C] with M >= 2 sets; got {tuple(set_means.shape)}")
    set_means = set_means.double()
    estimate = float(t_stddev(set_means))
    if method == "analytic":
        half = float(analytic_halfwidth(set_means, confidence))
        return Interval(estimate, estimate - half, estimate + half, confidence, method)
    if method == "bootstrap":
        g = generator or torch.Generator(device=set_means.device).manual_seed(0)
        values = t_stddev_resampled(set_means, bootstrap_counts(set_means.shape[0], n_resamples, g))
        q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=values.dtype, device=values.device)
        low, high = torch.quantile(values, q).tolist()
        return Interval(estimate, low, high, confidence, method)
    raise InvalidArgumentError(f"method must be 'analytic' or 'bootstrap'; got {method!r}")


@dataclass(frozen=True)
class PairedDifference:
    """T. stddev of scheme b minus scheme a on their common sets, with a paired bootstrap interval."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_sets: int

    @property
    def is_significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def paired_difference(
    means_a: Tensor,
    means_b: Tensor,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> PairedDifference:
    """Paired bootstrap over set index: both schemes are resampled with the same sets."""
    m = min(means_a.shape[0], means_b.shape[0])
    a, b = means_a[:m].double(), means_b[:m].double()
    g = generator or torch.Generator(device=a.device).manual_seed(0)
    counts = bootstrap_counts(m, n_resamples, g)
    diffs = t_stddev_resampled(b, counts) - t_stddev_resampled(a, counts)
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=diffs.dtype, device=diffs.device)
    low, high = torch.quantile(diffs, q).tolist()
    # Two-sided bootstrap p-value: how often the resampled difference falls on the other side of 0.
    below, above = float((diffs <= 0).double().mean()), float((diffs >= 0).double().mean())
    p_value = min(1.0, 2 * min(below, above))
    return PairedDifference(float(t_stddev(b) - t_stddev(a)), low, high, p_value, m)
