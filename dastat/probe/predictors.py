"""Teacher-side predictors of one scheme from a probe's per-set sums (docs/method.md, "Teacher-side predictors").

Each predictor is a smooth function of per-unit figures, so each has a jackknife interval over units:
leave one unit out, recompute, bias-correct and take a t quantile with the effective degrees of
freedom of :mod:`dastat.probe.estimator`. Standard-deviation predictors (``t_stddev_rel``,
``t_ce_stddev``, ``sharpness``) are handled on the log scale as T. stddev is; ratio-of-means
predictors on their own scale.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dastat.probe.estimator import _moments, jackknife_values, t_value

# The predictors beside t_stddev, in the order ProbeResult and the store carry them.
NAMES = ("t_stddev_rel", "t_ce_stddev", "entropy_xprime", "affinity", "ce_xprime", "consistency", "sharpness")


def jackknife_bounds(estimate: float, leave_one_out: Tensor, confidence: float, *, log: bool) -> tuple[float, float]:
    """The bias-corrected jackknife t interval of ``estimate`` from its leave-one-out values [M], M >= 3.

    ``log`` builds it on the log scale (for a positive statistic such as a standard deviation).
    NaN bounds where a value is not finite or M < 3; the point itself where nothing varies.
    """
    values = leave_one_out.double()
    if values.shape[0] < 3 or not math.isfinite(estimate) or not bool(torch.isfinite(values).all()):
        return math.nan, math.nan
    if log:
        if estimate <= 0 or bool((values <= 0).any()):
            return (0.0, 0.0) if estimate == 0 and bool((values == 0).all()) else (math.nan, math.nan)
        values, centre = values.log(), math.log(estimate)
    else:
        centre = estimate
    bias, se, df = _moments(values, torch.tensor(centre, dtype=torch.float64))
    half = float(t_value(confidence, df) * se)
    low, high = centre - float(bias) - half, centre - float(bias) + half
    return (math.exp(low), math.exp(high)) if log else (low, high)


def _ratio(num: Tensor, den: Tensor) -> tuple[float, Tensor]:
    """Σ num / Σ den over sets, and its value with each set left out."""
    total_n, total_d = num.sum(), den.sum()
    estimate = float(total_n / total_d) if float(total_d) > 0 else math.nan
    return estimate, (total_n - num) / (total_d - den)


def teacher_predictors(means: Tensor, labels: Tensor, rec, slot: int, confidence: float,
                       units_per_set: int = 1) -> dict[str, float]:
    """Every predictor of :data:`NAMES` with ``<name>_ci_low`` / ``<name>_ci_high``, for scheme ``slot``.

    ``means`` [M, C] are the scheme's unit means, ``labels`` [M, C] the units' label shares (the floor's
    input), ``rec`` the engine's per-unit records of the same M units (``dastat.probe.engine.UnitRecords``);
    ``units_per_set`` units make a set, so a stddev across units is divided by its square root.
    """
    m = means.shape[0]
    out: dict[str, float] = {}

    def put(name: str, estimate: float, loo: Tensor, log: bool) -> None:
        out[name] = estimate
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = jackknife_bounds(estimate, loo, confidence, log=log)

    if m < 2:
        return {k: math.nan for name in NAMES for k in (name, f"{name}_ci_low", f"{name}_ci_high")}
    few = m < 3  # the jackknife leaves one of at least 3 sets out
    means, labels = means.double(), labels.double()
    scale = math.sqrt(units_per_set)
    t = float(means.std(0, correction=1).mean()) / scale
    floor = float(labels.std(0, correction=1).mean()) / scale
    t_loo = jackknife_values(means) if not few else torch.full((m,), math.nan, dtype=torch.float64)
    floor_loo = jackknife_values(labels) if not few else torch.full((m,), math.nan, dtype=torch.float64)
    floor_loo = floor_loo / scale
    put("t_stddev_rel", t / floor if floor > 0 else math.nan, t_loo / scale / floor_loo, log=True)
    entropy = rec.entropy[:, slot].double()
    ce_loo = jackknife_values(entropy[:, None]) if not few else torch.full((m,), math.nan, dtype=torch.float64)
    put("t_ce_stddev", float(entropy.std(correction=1)) / scale, ce_loo / scale, log=True)
    rows_xp = rec.rows_xprime[:, slot]
    put("entropy_xprime", *_ratio(rec.entropy_xprime[:, slot] * rows_xp, rows_xp), log=False)
    acc_xp, acc_xp_loo = _ratio(rec.hits_xprime[:, slot], rows_xp)
    acc_x, acc_x_loo = _ratio(rec.correct_x, rec.rows_x)
    put("affinity", acc_xp / acc_x if acc_x > 0 else math.nan, acc_xp_loo / acc_x_loo, log=False)
    put("ce_xprime", *_ratio(rec.ce_xprime[:, slot], rows_xp), log=False)
    put("consistency", *_ratio(rec.kl_xprime[:, slot], rec.single_xprime[:, slot]), log=False)
    mass, mass_loo = _ratio(rec.mass_xprime[:, slot], rows_xp)
    put("sharpness", floor * mass, floor_loo * mass_loo, log=True)
    return out
