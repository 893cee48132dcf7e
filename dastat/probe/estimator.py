"""The T. stddev estimator and its intervals (paper Eq. 9-10; docs/method.md, "T. stddev and its estimator").

A probe closes M independent units, a batch (protocol ``fast``) or a set (``paper``); unit i has a
mean probability vector u_i (C classes) and ``units_per_set`` units make a set. T. stddev, the
stddev across sets of a set's mean, is mean_c sqrt(Var_i(u_ic) / units_per_set), with the unbiased
(M-1) variance: a set's mean is the mean of its independent, equal-sized units. Its interval is a
jackknife over units: bias-corrected, on the log scale, with a t quantile (cheap and vectorised:
the stopping rule and ``--resolve`` use it between rounds). The delta-method and bootstrap
intervals remain for comparison.
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


def stddev_of_means(means: Tensor, units_per_set: int = 1) -> Tensor:
    """T. stddev from unit means: mean over classes of sqrt(Var(unit means) / units_per_set) (lower is better).

    Parameters
    ----------
    means : Tensor, float, shape [..., M, C]
        Mean teacher probability of each of M >= 2 independent units (leading dims: independent runs).
    units_per_set : int
        Units of equal size that make a set (5 batches in protocol ``fast``; 1 when a unit is a set).

    Returns
    -------
    Tensor
        Shape [...] (0-d for one run), on the input's device (no host sync).
    """
    return means.std(dim=-2, correction=1).mean(-1) / math.sqrt(units_per_set)


def influence(set_means: Tensor) -> Tensor:
    """Per-set influence values of :func:`stddev_of_means` (shape [..., M]); their mean is ~0.

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


def _spread(set_means: Tensor) -> tuple[Tensor, Tensor]:
    """T. stddev [...] and its leave-one-out values [..., M] from one pass over the deviations.

    Removing set i changes the sum of squared deviations by d_i² M / (M - 1) (d_i: its deviation
    from the mean), so all M values come from the same squares; the stopping rule runs this on
    every check, so it works in place on one [..., M, C] buffer.
    """
    m = set_means.shape[-2]
    sq = (set_means - set_means.mean(-2, keepdim=True)).square_()  # [..., M, C]
    ss = sq.sum(-2, keepdim=True)  # [..., 1, C]
    estimate = (ss / (m - 1)).sqrt_().mean(-1).squeeze(-1)
    values = sq.mul_(-m / (m - 1)).add_(ss).div_(m - 2).clamp_min_(0).sqrt_().mean(-1)
    return estimate, values


def jackknife_values(set_means: Tensor) -> Tensor:
    """T. stddev with each set left out in turn: shape [..., M] for set means [..., M, C], M >= 3."""
    return _spread(set_means)[1]


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


def log_jackknife(means: Tensor, units_per_set: int = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """T. stddev on the log scale with its jackknife bias, standard error and effective df (each [...]).

    The bias of a standard deviation is O(1/M) (-1/(4M) for Gaussian units, more for skewed or
    heavy-tailed ones) and does not shrink when it is averaged over classes, while the standard
    error does; the jackknife estimates it from the units. On the log scale the standard error no
    longer grows with the estimate, so a low estimate does not come with a too-narrow interval, and
    ``units_per_set`` only shifts the centre by -log(units_per_set) / 2; the interval is
    ``exp(log T - bias ± t se)``.
    """
    return _log_jackknife(means, units_per_set)[1:]


def _log_jackknife(means: Tensor, units_per_set: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(T. stddev, then :func:`log_jackknife`'s four values), from one :func:`_spread`."""
    estimate, values = _spread(means)
    shift = math.log(units_per_set) / 2
    log_est = estimate.log()
    bias, se, df = _moments(values.clamp_min_(torch.finfo(means.dtype).tiny).log_(), log_est)
    return estimate / math.sqrt(units_per_set), log_est - shift, bias, se, df


def jackknife_interval(means: Tensor, confidence: float = 0.95,
                       units_per_set: int = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(estimate, ci_low, ci_high, df), each [...]: the interval of :func:`interval` for unit means [..., M, C].

    One jackknife pass serves the bounds, the relative width and the stopping rule's df.
    """
    estimate, _, low, high, df = _jackknife(means, confidence, units_per_set)
    return estimate, low, high, df


def _jackknife(means: Tensor, confidence: float,
               units_per_set: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(estimate, bias-corrected log estimate, ci_low, ci_high, df) from one jackknife pass."""
    estimate, log_est, bias, se, df = _log_jackknife(means, units_per_set)
    half = t_value(confidence, df).to(se) * se
    centre = log_est - bias
    return estimate, centre, (centre - half).exp(), (centre + half).exp(), df


def bounds(means: Tensor, confidence: float = 0.95, units_per_set: int = 1) -> tuple[Tensor, Tensor]:
    """The interval of :func:`interval` for unit means [..., M, C], M >= 3: (ci_low, ci_high), each [...]."""
    return jackknife_interval(means, confidence, units_per_set)[1:3]


def relative(estimate: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Half-width of ``[low, high]`` relative to ``estimate`` (inf where the estimate is 0), elementwise."""
    ratio = (high - low) / 2 / torch.where(estimate > 0, estimate, torch.ones_like(estimate))
    return torch.where(estimate > 0, ratio, torch.full_like(ratio, math.inf))


def rel_halfwidth(means: Tensor, confidence: float = 0.95) -> Tensor:
    """Half-width of the interval relative to the estimate, shape [...] (what ``rtol`` bounds; no units_per_set:
    it cancels)."""
    return relative(*jackknife_interval(means, confidence)[:3])


def z_value(confidence: float) -> float:
    """The two-sided standard-normal quantile for ``confidence`` (1.96 at 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def analytic_halfwidth(set_means: Tensor, confidence: float = 0.95) -> Tensor:
    """Half-width of the delta-method interval of :func:`stddev_of_means` (shape [...], no host sync)."""
    m = set_means.shape[-2]
    return z_value(confidence) * influence(set_means).std(dim=-1, correction=1) / math.sqrt(m)


def bootstrap_counts(num_sets: int, n_resamples: int, generator: torch.Generator) -> Tensor:
    """Resampling counts [n_resamples, num_sets] (float64) for a bootstrap over sets."""
    draws = torch.randint(num_sets, (n_resamples, num_sets), generator=generator, device=generator.device)
    counts = torch.zeros(n_resamples, num_sets, dtype=torch.float64, device=generator.device)
    return counts.scatter_add_(1, draws, torch.ones_like(draws, dtype=torch.float64))


def stddev_of_means_resampled(set_means: Tensor, counts: Tensor) -> Tensor:
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
    means: Tensor,
    confidence: float = 0.95,
    *,
    units_per_set: int = 1,
    method: str = "jackknife",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> Interval:
    """T. stddev with its confidence interval over independent units.

    ``jackknife`` (the default, the one the probe reports and stops on): a bias-corrected t
    interval on the log scale, from leaving out one unit at a time, with the t quantile's degrees
    of freedom reduced when the leave-one-out values are heavy-tailed. It covers at its nominal
    level from a few dozen units where the delta method does not
    (docs/method.md, "T. stddev and its estimator"). ``analytic`` is the delta-method interval and
    ``bootstrap`` the percentile bootstrap over units, kept for comparison.

    Parameters
    ----------
    means : Tensor, float, shape [M, C]
        Mean teacher probability of each independent unit: M >= 3 units (M >= 2 for analytic/bootstrap).
    confidence : float
        Two-sided level, e.g. 0.95.
    units_per_set : int
        Equal-sized units that make a set: 5 when the units are the batches of protocol ``fast``,
        1 when they are sets.
    method : {"jackknife", "analytic", "bootstrap"}
    n_resamples, generator
        For the bootstrap only (seeded generator for reproducible intervals).

    Returns
    -------
    Interval
        ``estimate`` (the plain estimator), ``ci_low``, ``ci_high``, and for the jackknife its
        ``bias`` and ``df``; ``n_sets`` counts the units.

    Raises
    ------
    InvalidArgumentError
        ``means`` not [M, C] with enough units, or an unknown method.
    """
    method = check_choice(method, "method", METHODS)
    fewest = 3 if method == "jackknife" else 2
    if not isinstance(means, Tensor) or means.ndim != 2 or means.shape[0] < fewest:
        shape = tuple(means.shape) if isinstance(means, Tensor) else type(means).__name__
        raise InvalidArgumentError(f"means must be a tensor [M, C] with M >= {fewest} units for the "
                                   f"{method} interval; got {shape}")
    means = means.double()
    m, scale = means.shape[0], math.sqrt(units_per_set)
    estimate = float(stddev_of_means(means, units_per_set))
    if method == "jackknife":
        if estimate == 0:  # every unit alike: nothing varies, the interval is the point
            return Interval(0.0, 0.0, 0.0, confidence, method, m, 0.0, m - 1.0)
        _, centre, low, high, df = _jackknife(means, confidence, units_per_set)
        return Interval(estimate, float(low), float(high), confidence, method, m, estimate - math.exp(float(centre)),
                        float(df))
    if method == "analytic":
        half = float(analytic_halfwidth(means, confidence)) / scale
        return Interval(estimate, estimate - half, estimate + half, confidence, method, m)
    g = generator or torch.Generator(device=means.device).manual_seed(0)
    values = stddev_of_means_resampled(means, bootstrap_counts(m, n_resamples, g)) / scale
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


def paired_bounds(means_a: Tensor, means_b: Tensor, confidence: float = 0.95,
                  units_per_set: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Jackknife interval and p-value of T. stddev of b minus a on common units [..., M, C], M >= 3.

    Both schemes leave out the same unit, so what the two share (the x half of every unit, the
    image draws) cancels in the difference. Returns (ci_low, ci_high, p_value), each [...].
    """
    scale = math.sqrt(units_per_set)
    t_a, t_b = stddev_of_means(means_a), stddev_of_means(means_b)
    values = jackknife_values(means_b) - jackknife_values(means_a)  # [..., M]
    bias, se, df = _moments(values, t_b - t_a)
    centre, se = (t_b - t_a - bias) / scale, se / scale
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
    units_per_set: int = 1,
    method: str = "jackknife",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
) -> PairedDifference:
    """T. stddev of b minus a on the units both closed (the first min(M_a, M_b)), with a paired interval.

    ``jackknife`` (default): the bias-corrected jackknife t interval of the difference, leaving out
    the same unit of both schemes (see :func:`interval` for ``units_per_set``). ``bootstrap``: the
    paired percentile bootstrap over unit index, kept for comparison (``n_resamples``, ``generator``).
    """
    method = check_choice(method, "method", ("jackknife", "bootstrap"))
    m = min(means_a.shape[0], means_b.shape[0])
    if m < 3:
        raise InvalidArgumentError(f"a paired difference needs at least 3 common units; got {m}")
    a, b = means_a[:m].double(), means_b[:m].double()
    diff = float(stddev_of_means(b, units_per_set) - stddev_of_means(a, units_per_set))
    if method == "jackknife":
        low, high, p = paired_bounds(a, b, confidence, units_per_set)
        return PairedDifference(diff, float(low), float(high), float(p), m, method)
    g = generator or torch.Generator(device=a.device).manual_seed(0)
    counts = bootstrap_counts(m, n_resamples, g)
    diffs = (stddev_of_means_resampled(b, counts) - stddev_of_means_resampled(a, counts)) / math.sqrt(units_per_set)
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=diffs.dtype, device=diffs.device)
    low, high = torch.quantile(diffs, q).tolist()
    # Two-sided bootstrap p-value: how often the resampled difference falls on the other side of 0.
    below, above = float((diffs <= 0).double().mean()), float((diffs >= 0).double().mean())
    return PairedDifference(diff, low, high, min(1.0, 2 * min(below, above)), m, method)

