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


def stddev_of_means(set_means: Tensor) -> Tensor:
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


@dataclass(frozen=True)
class Design:
    """How the probe drew its sets: ``num_images`` shuffled every epoch into batches of ``batch_size``
    (the last one short), a set every ``batches_per_set`` batches, sets running on across epochs.

    Images are drawn without replacement within an epoch, so the sets of one epoch are negatively
    correlated; :func:`interval` and :func:`paired_difference` correct for it when given the design
    (docs/method.md, "T. stddev and its estimator").
    """

    num_images: int
    batch_size: int
    batches_per_set: int

    def __post_init__(self):
        for name in ("num_images", "batch_size", "batches_per_set"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"Design.{name} must be a positive integer; got {value!r}")

    def counts(self, num_sets: int) -> Tensor:
        """Images each of the first ``num_sets`` sets takes from each epoch: float64 [num_sets, epochs]."""
        per_epoch = math.ceil(self.num_images / self.batch_size)
        batch = torch.arange(num_sets * self.batches_per_set)
        last = self.num_images - self.batch_size * (per_epoch - 1)
        size = torch.where(batch % per_epoch == per_epoch - 1, last, self.batch_size).double()
        epoch = batch // per_epoch
        out = torch.zeros(num_sets, int(epoch[-1]) + 1 if num_sets else 0, dtype=torch.float64)
        return out.index_put_((batch // self.batches_per_set, epoch), size, accumulate=True)


def _design_terms(design: Design, m: int) -> dict[str, float]:
    """Traces of the set covariance model for the first ``m`` sets (all O(M x epochs)).

    Per class, Cov(u) = w (D - phi Q): D = diag(1/n_i) (n_i images in set i), Q = P P' / N with
    P_ig the share of set i's images from epoch g, N the images of an epoch; phi in [0, 1] is the
    share of the per-row variance that is between images (1 for a label stream, 0 for rows drawn
    independently). H centres over sets. Each value is a coefficient of phi^0, phi^1 or phi^2.
    """
    counts = design.counts(m)
    n = counts.sum(1)
    d = 1 / n
    p = counts / n[:, None]
    hp = p - p.mean(0)
    big_n = design.num_images
    row = (hp**2).sum(1)  # ||(HP)_i||^2
    php = p.T @ hp  # P'HP [G, G]
    return {
        "tr_hd": float(d.sum() * (1 - 1 / m)), "tr_hq": float(row.sum() / big_n),
        "q2_d": float((d * row).sum()), "q2_q": float((php**2).sum() / big_n),
        "hdhd": float((d**2).sum() * (1 - 2 / m) + d.sum() ** 2 / m**2),
        "hdhq": float((d * row).sum() / big_n), "hqhq": float((php**2).sum() / big_n**2),
        "diag_d": float(d.mean()), "diag_q": float((p**2).sum(1).mean() / big_n),
    }


def _design_factors(set_means: Tensor, design: Design | None) -> tuple[Tensor, Tensor]:
    """(kappa, lam) for set means [..., M, C]: the design's correction to the jackknife.

    kappa scales s^2 to the variance of one set's mean (within-epoch sampling makes s^2 too high:
    the sets of an epoch share out a fixed total); lam is how much the dependence inflates the
    variance of s^2 (the Satterthwaite degrees of freedom of the quadratic form, relative to
    independent sets). phi comes from the sets themselves, pooled over classes: the spread of the
    epochs' shares of the deviations against the total spread. Both are 1 without a design.
    """
    one = torch.ones(set_means.shape[:-2], dtype=set_means.dtype, device=set_means.device)
    if design is None:
        return one, one
    centred = set_means - set_means.mean(-2, keepdim=True)
    m = centred.shape[-2]
    t = _design_terms(design, m)
    p = design.counts(m).to(centred)
    p = p / p.sum(1, keepdim=True)
    q1 = (centred**2).sum((-2, -1))
    q2 = ((p.T @ centred) ** 2).sum((-2, -1))
    ratio = q2 / torch.where(q1 > 0, q1, torch.ones_like(q1))
    # E[q2] / E[q1] = (q2_d - phi q2_q) / (tr_hd - phi tr_hq), solved for phi.
    denom = t["q2_q"] - ratio * t["tr_hq"]
    phi = (t["q2_d"] - ratio * t["tr_hd"]) / torch.where(denom != 0, denom, torch.ones_like(denom))
    phi = torch.where(denom != 0, phi, torch.zeros_like(phi)).clamp(0, 1)

    def rel_var(f: Tensor) -> Tensor:  # Var(q1) / E[q1]^2 up to the factor 2 (Gaussian sets)
        return (t["hdhd"] - 2 * f * t["hdhq"] + f**2 * t["hqhq"]) / (t["tr_hd"] - f * t["tr_hq"]) ** 2

    def diag_over_trace(f: Tensor) -> Tensor:
        return (t["diag_d"] - f * t["diag_q"]) / (t["tr_hd"] - f * t["tr_hq"])

    zero = torch.zeros_like(phi)
    kappa = diag_over_trace(phi) / diag_over_trace(zero)
    lam = (rel_var(phi) / rel_var(zero)).clamp_min(1)
    return kappa, lam


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


def log_jackknife(set_means: Tensor, design: Design | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """T. stddev on the log scale with its jackknife bias, standard error and effective df (each [...]).

    The bias of a standard deviation is O(1/M) (-1/(4M) for Gaussian sets, more for skewed or
    heavy-tailed ones) and does not shrink when it is averaged over classes, while the standard
    error does; the jackknife estimates it from the sets. On the log scale the standard error no
    longer grows with the estimate, so a low estimate does not come with a too-narrow interval.
    With a ``design``, the bias also holds the within-epoch term and the standard error and df
    the dependence of the sets (:func:`_design_factors`); the interval is ``exp(log T - bias ± t se)``.
    """
    return _log_jackknife(set_means, design)[1:]


def _log_jackknife(set_means: Tensor, design: Design | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(T. stddev, then :func:`log_jackknife`'s four values), from one :func:`_spread`."""
    estimate, values = _spread(set_means)
    log_est = estimate.log()
    bias, se, df = _moments(values.clamp_min_(torch.finfo(set_means.dtype).tiny).log_(), log_est)
    kappa, lam = _design_factors(set_means, design)
    return estimate, log_est, lam * bias - kappa.log() / 2, se * lam.sqrt(), df / lam


def jackknife_interval(set_means: Tensor, confidence: float = 0.95,
                       design: Design | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(estimate, ci_low, ci_high, df), each [...]: the interval of :func:`interval` for set means [..., M, C].

    One jackknife pass serves the bounds, the relative width and the stopping rule's df.
    """
    estimate, _, low, high, df = _jackknife(set_means, confidence, design)
    return estimate, low, high, df


def _jackknife(set_means: Tensor, confidence: float,
               design: Design | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(estimate, bias-corrected log estimate, ci_low, ci_high, df) from one jackknife pass."""
    estimate, log_est, bias, se, df = _log_jackknife(set_means, design)
    half = t_value(confidence, df).to(se) * se
    centre = log_est - bias
    return estimate, centre, (centre - half).exp(), (centre + half).exp(), df


def bounds(set_means: Tensor, confidence: float = 0.95, design: Design | None = None) -> tuple[Tensor, Tensor]:
    """The interval of :func:`interval` for set means [..., M, C], M >= 3: (ci_low, ci_high), each [...]."""
    return jackknife_interval(set_means, confidence, design)[1:3]


def relative(estimate: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Half-width of ``[low, high]`` relative to ``estimate`` (inf where the estimate is 0), elementwise."""
    ratio = (high - low) / 2 / torch.where(estimate > 0, estimate, torch.ones_like(estimate))
    return torch.where(estimate > 0, ratio, torch.full_like(ratio, math.inf))


def rel_halfwidth(set_means: Tensor, confidence: float = 0.95, design: Design | None = None) -> Tensor:
    """Half-width of the interval relative to the estimate, shape [...] (what ``rtol`` bounds)."""
    return relative(*jackknife_interval(set_means, confidence, design)[:3])


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
    set_means: Tensor,
    confidence: float = 0.95,
    *,
    method: str = "jackknife",
    n_resamples: int = 2000,
    generator: torch.Generator | None = None,
    design: Design | None = None,
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
    design : Design, optional
        How the sets were drawn (the probe passes its own). Sets of one epoch share out its
        images, so they are negatively correlated; the jackknife then corrects its centre, standard
        error and df for that. Without it the sets are taken as independent.

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
    estimate = float(stddev_of_means(set_means))
    if method == "jackknife":
        if estimate == 0:  # every set alike: nothing varies, the interval is the point
            return Interval(0.0, 0.0, 0.0, confidence, method, m, 0.0, m - 1.0)
        _, centre, low, high, df = _jackknife(set_means, confidence, design)
        return Interval(estimate, float(low), float(high), confidence, method, m, estimate - math.exp(float(centre)),
                        float(df))
    if method == "analytic":
        half = float(analytic_halfwidth(set_means, confidence))
        return Interval(estimate, estimate - half, estimate + half, confidence, method, m)
    g = generator or torch.Generator(device=set_means.device).manual_seed(0)
    values = stddev_of_means_resampled(set_means, bootstrap_counts(m, n_resamples, g))
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
                  design: Design | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Jackknife interval and p-value of stddev_of_means(b) - stddev_of_means(a) on common sets [..., M, C], M >= 3.

    Both schemes leave out the same set, so what the two share (the x half of every set, the
    image order) cancels in the difference. With a ``design``, both estimates are scaled to the
    variance of one set's mean and the standard error and df carry the sets' dependence, as in
    :func:`log_jackknife` (the share phi pooled over both schemes). Returns (ci_low, ci_high,
    p_value), each [...].
    """
    t_a, t_b = stddev_of_means(means_a), stddev_of_means(means_b)
    values = jackknife_values(means_b) - jackknife_values(means_a)  # [..., M]
    bias, se, df = _moments(values, t_b - t_a)
    both = torch.cat([means_a, means_b], -1)
    kappa, lam = _design_factors(both, design)
    # The design scales both estimates, hence their difference and its bias and spread, by sqrt(kappa).
    se, df = se * (lam * kappa).sqrt(), df / lam
    centre = kappa.sqrt() * (t_b - t_a - lam * bias)
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
    design: Design | None = None,
) -> PairedDifference:
    """T. stddev of b minus a on the sets both closed (the first min(M_a, M_b)), with a paired interval.

    ``jackknife`` (default): the bias-corrected jackknife t interval of the difference, leaving out
    the same set of both schemes (see :func:`interval`; ``design``: how the sets were drawn, for the
    within-epoch correction). ``bootstrap``: the paired percentile bootstrap over set index, kept for
    comparison (``n_resamples``, ``generator``).
    """
    method = check_choice(method, "method", ("jackknife", "bootstrap"))
    m = min(means_a.shape[0], means_b.shape[0])
    if m < 3:
        raise InvalidArgumentError(f"a paired difference needs at least 3 common sets; got {m}")
    a, b = means_a[:m].double(), means_b[:m].double()
    diff = float(stddev_of_means(b) - stddev_of_means(a))
    if method == "jackknife":
        low, high, p = paired_bounds(a, b, confidence, design)
        return PairedDifference(diff, float(low), float(high), float(p), m, method)
    g = generator or torch.Generator(device=a.device).manual_seed(0)
    counts = bootstrap_counts(m, n_resamples, g)
    diffs = stddev_of_means_resampled(b, counts) - stddev_of_means_resampled(a, counts)
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=diffs.dtype, device=diffs.device)
    low, high = torch.quantile(diffs, q).tolist()
    # Two-sided bootstrap p-value: how often the resampled difference falls on the other side of 0.
    below, above = float((diffs <= 0).double().mean()), float((diffs >= 0).double().mean())
    return PairedDifference(diff, low, high, min(1.0, 2 * min(below, above)), m, method)


def __getattr__(name: str):
    if name == "t_stddev":  # the statistic's old name, for one release
        import warnings

        warnings.warn("dastat.probe.estimator.t_stddev is now stddev_of_means (t_stddev names the probe result's "
                      "field)", DeprecationWarning, stacklevel=2)
        return stddev_of_means
    raise AttributeError(f"module 'dastat.probe.estimator' has no attribute {name!r}")
