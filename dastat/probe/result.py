"""ProbeResult: one scheme's T. stddev with its interval and the by-products of the same forwards."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dastat.probe import engine
from dastat.probe.estimator import Design, interval, stddev_of_means
from dastat.probe.predictors import teacher_predictors


@dataclass(frozen=True)
class ProbeResult:
    """T. stddev of one scheme for one teacher on one dataset (docs/method.md, "T. stddev and its estimator").

    ``floor`` is the same estimator on the one-hot labels of the same sets (the value a perfect
    one-hot teacher would get), and ``t_stddev_rel = t_stddev / floor``.

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

    @property
    def rel_halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2 / self.t_stddev if self.t_stddev > 0 else math.inf

    def to_dict(self) -> dict:
        """Plain values (JSON- and SQLite-ready); ``set_means`` left out."""
        record = asdict(self)
        record.pop("set_means")
        return record


def summarise(
    out: engine.EngineOutput,
    name: str,
    *,
    confidence: float,
    ci_method: str,
    return_sets: bool,
    design: Design | None = None,
    **fields,
) -> ProbeResult:
    """Turn the engine's per-set records for scheme ``name`` into a ProbeResult.

    ``design``: how the sets were drawn, for the interval's within-epoch correction.
    """
    means = out.set_means(name)
    n, s = means.shape[0], out.slot(name)
    rec = out.records[:n]
    if n >= 2:
        # The jackknife leaves one of at least 3 sets out; 2 sets give an estimate without an interval.
        enough = n >= 3 or ci_method != "jackknife"
        ci = interval(means, confidence, method=ci_method, design=design) if enough else None
        floor = float(stddev_of_means(out.label_means(name)))
    else:
        ci = None
        floor = math.nan
    rows_x, rows_xp = rec.rows_x, rec.rows_xprime[:, s]
    estimate = float(stddev_of_means(means)) if n >= 2 else math.nan
    predictors = teacher_predictors(means, out.label_means(name), rec, s, confidence)
    return ProbeResult(
        scheme=name,
        t_stddev=estimate,
        ci_low=ci.ci_low if ci else math.nan,
        ci_high=ci.ci_high if ci else math.nan,
        n_sets=n,
        rows_per_set=float((rows_x + rows_xp).mean()) if n else math.nan,
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
        set_means=means.numpy().copy() if return_sets else None,
        **predictors,
        **fields,
    )


def _weighted(values: torch.Tensor, weights: torch.Tensor) -> float:
    total = float(weights.sum())
    return float((values * weights).sum()) / total if total else math.nan


def _ratio(counts: torch.Tensor, rows: torch.Tensor) -> float:
    total = float(rows.sum())
    return float(counts.sum()) / total if total else math.nan
