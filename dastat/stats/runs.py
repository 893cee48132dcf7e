"""Seed noise carried through: an interval for r from resampling the runs within each scheme."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from dastat.checks import check_fraction, check_int
from dastat.errors import InvalidArgumentError
from dastat.stats.coefficients import METHODS, coefficient
from dastat.stats.correlation import MIN_POINTS, check_methods
from dastat.stats.intervals import percentile
from dastat.stats.resampling import data_rng
from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, numeric, require_columns


def _split_kinds(runs: pd.DataFrame, x: str, y: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "kind" in runs.columns:
        return runs[runs["kind"] == "probe"], runs[runs["kind"] == "student"]
    # Without a kind column a row is a probe run where it has x, a student run where it has y.
    return runs[numeric(runs, x).notna()], runs[numeric(runs, y).notna()]


def _scheme_values(rows: pd.DataFrame, column: str, scheme: str) -> dict[str, np.ndarray]:
    values = numeric(rows, column)
    keep = values.notna()
    return {str(s): v.to_numpy() for s, v in values[keep].groupby(rows.loc[keep, scheme], sort=False)}


def _resampled_means(per_scheme: list[np.ndarray], n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of a with-replacement resample of each scheme's runs: [B, S]."""
    out = np.empty((n_resamples, len(per_scheme)))
    for j, values in enumerate(per_scheme):
        idx = rng.integers(0, len(values), size=(n_resamples, len(values)))
        out[:, j] = values[idx].mean(axis=1)
    return out


def correlate_runs(
    runs: pd.DataFrame,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    methods: str | Iterable[str] = METHODS,
    *,
    scheme: str = "scheme",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Interval for r that carries the run-to-run (seed) noise of both axes.

    Each scheme's point is the mean of its runs: x over its probe runs, y over its student runs. The
    bootstrap resamples, with replacement and independently, the probe runs and the student runs
    within each scheme, recomputes the scheme means and r, and reports the percentile interval. It
    answers "does the correlation survive the noise of the runs behind each point?", not "is it
    significant over schemes" (that is :func:`correlate`).

    Parameters
    ----------
    runs : DataFrame
        One row per run, as ``dastat.store.open().runs()``: the ``by`` keys, ``scheme``, and either a
        ``kind`` column ("probe" rows carry ``x``, "student" rows carry ``y``) or rows that hold ``x``
        (probe runs) or ``y`` (student runs). A probe run has no student: probe rows are matched to a
        group on the ``by`` keys that they hold (typically dataset and teacher).
    x, y, by, methods, confidence, seed
        As in :func:`correlate`.
    scheme : str
        The column naming the augmentation of each run.
    n_resamples : int >= 1
        Bootstrap resamples.

    Returns
    -------
    DataFrame
        Columns: the ``by`` keys, ``method``, ``n`` (schemes with both probe and student runs),
        ``n_probe_runs``, ``n_student_runs``, ``n_single_run`` (scheme-axis values resting on a single
        run, which contribute no noise), ``r`` (on the scheme means), ``ci_low``, ``ci_high``,
        ``ci_method`` ("run_bootstrap_percentile"), ``frac_same_sign`` (share of resamples whose r
        has the sign of ``r``), ``confidence``, ``n_resamples``, ``seed``, ``reason``.
    """
    runs = check_frame(runs, "runs")
    by = check_by(by, runs)
    methods = check_methods(methods)
    confidence = check_fraction(confidence, "confidence")
    n_resamples = check_int(n_resamples, "n_resamples", low=1)
    seed = check_int(seed, "seed", low=0)
    require_columns(runs, [scheme, x, y], name="runs")
    probes, students = _split_kinds(runs, x, y)
    require_columns(students, by, name="runs (student rows)")
    if students.empty:
        raise InvalidArgumentError("runs has no student runs (rows with kind 'student' or a value in "
                                   f"{y!r}); record student runs with dastat train or dastat ingest")
    # A probe row matches on the keys it holds: a teacher probe has no student.
    probe_keys = [k for k in by if k in probes.columns and probes[k].notna().all()]

    rows = []
    for keys, student_rows in groups(students, by):
        probe_rows = probes
        for k in probe_keys:
            probe_rows = probe_rows[probe_rows[k] == keys[k]]
        xs, ys = _scheme_values(probe_rows, x, scheme), _scheme_values(student_rows, y, scheme)
        common = sorted(s for s in ys if s in xs)  # a canonical order: the resample ignores row order
        base = {**keys, "n": len(common), "n_probe_runs": int(sum(len(xs[s]) for s in common)),
                "n_student_runs": int(sum(len(ys[s]) for s in common)),
                "n_single_run": int(sum(len(xs[s]) == 1 for s in common) + sum(len(ys[s]) == 1 for s in common))}
        x_means = np.array([xs[s].mean() for s in common])
        y_means = np.array([ys[s].mean() for s in common])
        for method in methods:
            row = {**base, "method": method, "confidence": confidence, "n_resamples": n_resamples,
                   "seed": seed, "ci_method": "run_bootstrap_percentile", "reason": ""}
            r = float(coefficient(method, x_means, y_means)[0]) if len(common) >= MIN_POINTS else math.nan
            if len(common) < MIN_POINTS:
                row["reason"] = (f"fewer than {MIN_POINTS} schemes with both probe and student runs "
                                 f"(n = {len(common)})")
            elif not math.isfinite(r):
                row["reason"] = "the scheme means are constant on one axis: r is undefined"
            if row["reason"]:
                rows.append({**row, "r": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                             "frac_same_sign": math.nan})
                continue
            # Seeded by the runs themselves: the same runs give the same interval in any table.
            rng = data_rng(seed, f"runs:{method}", [np.sort(xs[s]) for s in common], [np.sort(ys[s]) for s in common])
            boot_x = _resampled_means([xs[s] for s in common], n_resamples, rng)  # [B, S]
            boot_y = _resampled_means([ys[s] for s in common], n_resamples, rng)
            boot = coefficient(method, boot_x, boot_y)
            interval = percentile(boot, confidence)
            finite = boot[np.isfinite(boot)]
            same = float(np.mean(np.sign(finite) == np.sign(r))) if finite.size else math.nan
            rows.append({**row, "r": r, "ci_low": interval.low, "ci_high": interval.high,
                         "frac_same_sign": same, "reason": interval.note})
    columns = [*by, "method", "n", "n_probe_runs", "n_student_runs", "n_single_run", "r", "ci_low",
               "ci_high", "ci_method", "frac_same_sign", "confidence", "n_resamples", "seed", "reason"]
    return pd.DataFrame(rows, columns=columns)
