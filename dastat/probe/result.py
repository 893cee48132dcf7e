"""ProbeResult: one scheme's T. stddev with its interval and the by-products of the same forwards."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dastat.probe import engine
from dastat.probe.estimator import interval, stddev_of_means
from dastat.probe.predictors import teacher_predictors


@dataclass(frozen=True)
class ProbeResult:
    """T. stddev of one scheme for one teacher on one dataset (docs/method.md, "T. stddev and its estimator").

    A set is K = ``set_size`` rows: 5 batches of 64 images and their x'. ``n_sets`` counts sets,
    ``n_units`` the independent units the interval is computed over: batches under protocol
    ``fast`` (``units_per_set`` = 5), sets under ``paper`` (1). ``floor`` is the same estimator on
    the one-hot labels of the same units (the value a perfect one-hot teacher would get), and
    ``t_stddev_rel = t_stddev / floor``. ``pool_dependent``: protocol ``paper`` on fewer than 20 sets'
    worth of images, where the value depends on the pool's size (docs/method.md, "Protocols").

    The teacher-side predictors (docs/method.md, "Teacher-side predictors") come from the same
    forwards: ``t_stddev_rel``, ``t_ce_stddev``, ``entropy_xprime``, ``affinity``, ``ce_xprime``,
    ``consistency`` and ``sharpness``, each with ``<name>_ci_low`` / ``<name>_ci_high`` (a jackknife
    over the same sets). ``mean_entropy_xprime`` is ``entropy_xprime`` under its older name;
    ``teacher_acc_xprime`` scores x' against its base image's hard label, ``affinity`` against the
    λ-weighted label.
    """

    scheme: str
    t_stddev: float
    ci_low: float
    ci_high: float
    n_sets: int
    rows_per_set: float
    n_teacher_forwards: int
    t_ce_stddev: float
    mean_entropy_x: float
    mean_entropy_xprime: float
    teacher_acc_x: float
    teacher_acc_xprime: float
    floor: float
    t_stddev_rel: float
    protocol: str
    randomness: str
    set_size: int
    normalisation: dict
    seed: int
    elapsed_s: float
    confidence: float = 0.95
    ci_method: str = "jackknife"
    rtol: float = math.nan
    interrupted: bool = False
    teacher: str = ""
    teacher_checksum: str = ""
    dataset: str = ""
    scheme_params: dict = field(default_factory=dict)
    n_units: int = 0
    units_per_set: int = 1
    pool_dependent: bool = False
    t_stddev_rel_ci_low: float = math.nan
    t_stddev_rel_ci_high: float = math.nan
    t_ce_stddev_ci_low: float = math.nan
    t_ce_stddev_ci_high: float = math.nan
    entropy_xprime: float = math.nan
    entropy_xprime_ci_low: float = math.nan
    entropy_xprime_ci_high: float = math.nan
    affinity: float = math.nan
    affinity_ci_low: float = math.nan
    affinity_ci_high: float = math.nan
    ce_xprime: float = math.nan
    ce_xprime_ci_low: float = math.nan
    ce_xprime_ci_high: float = math.nan
    consistency: float = math.nan
    consistency_ci_low: float = math.nan
    consistency_ci_high: float = math.nan
    sharpness: float = math.nan
    sharpness_ci_low: float = math.nan
    sharpness_ci_high: float = math.nan
    set_means: np.ndarray | None = field(default=None, repr=False, compare=False)
    unit_means: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def rel_halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2 / self.t_stddev if self.t_stddev > 0 else math.inf

    def to_dict(self) -> dict:
        """Plain values (JSON- and SQLite-ready); ``set_means`` and ``unit_means`` left out."""
        record = asdict(self)
        record.pop("set_means")
        record.pop("unit_means")
        return record


def summarise(
    out: engine.EngineOutput,
    name: str,
    *,
    confidence: float,
    ci_method: str,
    return_sets: bool,
    **fields,
) -> ProbeResult:
    """Turn the engine's per-unit records for scheme ``name`` into a ProbeResult."""
    means = out.unit_means(name)
    n, s, per_set = means.shape[0], out.slot(name), out.units_per_set
    rec = out.records[:n]
    if n >= 2:
        # The jackknife leaves one of at least 3 units out; 2 units give an estimate without an interval.
        enough = n >= 3 or ci_method != "jackknife"
        ci = interval(means, confidence, units_per_set=per_set, method=ci_method) if enough else None
        floor = float(stddev_of_means(out.label_means(name), per_set))
    else:
        ci = None
        floor = math.nan
    rows_x, rows_xp = rec.rows_x, rec.rows_xprime[:, s]
    estimate = float(stddev_of_means(means, per_set)) if n >= 2 else math.nan
    predictors = teacher_predictors(means, out.label_means(name), rec, s, confidence, per_set)
    return ProbeResult(
        scheme=name,
        t_stddev=estimate,
        ci_low=ci.ci_low if ci else math.nan,
        ci_high=ci.ci_high if ci else math.nan,
        n_sets=n // per_set,
        n_units=n,
        units_per_set=per_set,
        rows_per_set=per_set * float((rows_x + rows_xp).mean()) if n else math.nan,
        n_teacher_forwards=int(rec.forwards_x.sum() + rec.forwards_xprime[:, s].sum()),
        mean_entropy_x=_weighted(rec.entropy_x, rows_x),
        mean_entropy_xprime=_weighted(rec.entropy_xprime[:, s], rows_xp),
        teacher_acc_x=_ratio(rec.correct_x, rows_x),
        teacher_acc_xprime=_ratio(rec.correct_xprime[:, s], rows_xp),
        floor=floor,
        elapsed_s=out.elapsed_s,
        confidence=confidence,
        ci_method=ci_method,
        interrupted=out.interrupted,
        set_means=_per_set(means, per_set).numpy().copy() if return_sets else None,
        unit_means=means.numpy().copy() if return_sets else None,
        **predictors,
        **fields,
    )


def _per_set(means: torch.Tensor, per_set: int) -> torch.Tensor:
    """Set means [n // per_set, C] from unit means [n, C]: each set averages its equal-sized units."""
    whole = means.shape[0] // per_set * per_set
    return means[:whole].reshape(-1, per_set, means.shape[1]).mean(1)


def _weighted(values: torch.Tensor, weights: torch.Tensor) -> float:
    total = float(weights.sum())
    return float((values * weights).sum()) / total if total else math.nan


def _ratio(counts: torch.Tensor, rows: torch.Tensor) -> float:
    total = float(rows.sum())
    return float(counts.sum()) / total if total else math.nan
