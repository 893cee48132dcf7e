"""Which teacher-side statistic predicts the students' test loss best? A head-to-head, per pair and pooled."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dastat.checks import check_fraction, check_int
from dastat.errors import InvalidArgumentError
from dastat.rng import derive_seed
from dastat.stats import dependent, intervals
from dastat.stats.coefficients import coefficient
from dastat.stats.correlation import MIN_POINTS, check_methods, correlation
from dastat.stats.pooled import meta_analysis, random_effects
from dastat.stats.tables import (
    PAIR_KEYS,
    check_by,
    check_frame,
    groups,
    has_values,
    numeric,
    require_columns,
    with_kd_method,
)

# The probe columns that are teacher-side predictors (docs/method.md, "Teacher-side predictors").
PREDICTORS: tuple[str, ...] = ("t_stddev", "t_stddev_rel", "t_ce_stddev", "entropy_xprime", "affinity",
                               "ce_xprime", "consistency", "sharpness", "floor")
# Older columns that "all" takes where a table (a store from before schema v4, the reference CSV) lacks
# the newer one: the same entropy under its older name, and the hard-label top-1 on x' for affinity
# (within one pair every scheme shares x, so for schemes without mixing the two order the schemes alike).
STAND_INS: Mapping[str, str] = {"entropy_xprime": "mean_entropy_xprime", "affinity": "teacher_acc_xprime"}

# Orientation: each predictor enters multiplied by its sign, so that under the paper's account a
# lower value predicts a lower loss for all of them. A higher teacher entropy or cross-entropy on x',
# or a larger change from x to x', spreads the teacher's probabilities and lowers T. stddev, so they
# enter negated.
DEFAULT_SIGNS: Mapping[str, int] = {"mean_entropy_xprime": -1, "entropy_xprime": -1, "ce_xprime": -1,
                                    "consistency": -1}

# |r_ab| beyond this: the two predictors order the schemes identically up to rounding (e.g.
# t_stddev_rel where the floor is the same for every scheme), and no difference can be tested.
_COLLINEAR = 1 - 1e-12

CORRELATION_COLUMNS = ("level", "predictor", "sign", "y", "method", "n", "n_dropped", "r", "ci_low",
                       "ci_high", "ci_method", "p_value", "p_perm", "n_pairs", "confidence",
                       "n_resamples", "seed", "reason")
DIFFERENCE_COLUMNS = ("level", "predictor_a", "predictor_b", "y", "method", "test", "n", "n_pairs",
                      "r_a", "r_b", "r_ab", "scale", "diff", "ci_low", "ci_high", "ci_method",
                      "statistic", "df", "p_value", "confidence", "n_resamples", "seed", "reason")


@dataclass(frozen=True)
class PredictorComparison:
    """The head-to-head: each predictor's correlation with the outcome, and every pairwise difference.

    ``correlations`` and ``differences`` are tidy tables (columns in :func:`compare_predictors`);
    rows with ``level == "pair"`` hold one pair each, ``level == "pooled"`` pool over the pairs.
    """

    correlations: pd.DataFrame
    differences: pd.DataFrame

    def to_dict(self) -> dict:
        """Both tables as lists of records, ready for ``json.dumps`` (via ``json_ready``)."""
        return {"correlations": self.correlations.to_dict(orient="records"),
                "differences": self.differences.to_dict(orient="records")}

    def verdicts(self, alpha: float = 0.05) -> pd.DataFrame:
        """Which two predictors are distinguishable at level ``alpha``, per row of ``differences``.

        Adds ``distinguishable`` (p_value < alpha; False where there is no p-value) and ``better``
        (the predictor with the larger oriented correlation where distinguishable, "" otherwise)
        to the key, predictor, method, test, n, diff and p_value columns.
        """
        alpha = check_fraction(alpha, "alpha")
        d = self.differences
        keys = [c for c in d.columns if c == "level" or c not in DIFFERENCE_COLUMNS]
        out = d[[*keys, "predictor_a", "predictor_b", "method", "test", "n", "diff", "p_value"]].copy()
        out["distinguishable"] = (out["p_value"] < alpha).fillna(False).astype(bool)
        out["better"] = np.where(out["distinguishable"],
                                 np.where(out["diff"] > 0, out["predictor_a"], out["predictor_b"]), "")
        return out


def available_predictors(table: pd.DataFrame) -> list[str]:
    """The known predictors (:data:`PREDICTORS`, or their :data:`STAND_INS`) that ``table`` holds numbers for."""
    found = []
    for name in PREDICTORS:
        if has_values(table, name):
            found.append(name)
        elif name in STAND_INS and has_values(table, STAND_INS[name]):
            found.append(STAND_INS[name])
    return found


def _check_predictors(table: pd.DataFrame, predictors: str | Iterable[str]) -> list[str]:
    if isinstance(predictors, str):
        predictors = (available_predictors(table) if predictors.strip() == "all"
                      else [p.strip() for p in predictors.split(",") if p.strip()])
    predictors = list(dict.fromkeys(predictors))
    if len(predictors) < 2:
        raise InvalidArgumentError(
            f"predictors must name at least two columns to compare; got {predictors}. The table holds "
            f"these known predictors: {available_predictors(table) or 'none'} (pass 'all' for every one)")
    return predictors


def _check_signs(signs: Mapping[str, int] | None, predictors: list[str]) -> dict[str, int]:
    merged = {**DEFAULT_SIGNS, **(signs or {})}
    for name, sign in merged.items():
        if sign not in (1, -1):
            raise InvalidArgumentError(f"signs[{name!r}] must be 1 or -1; got {sign!r}")
    return {p: int(merged.get(p, 1)) for p in predictors}


def _finite(values: dict[str, np.ndarray], names: Iterable[str]) -> np.ndarray:
    keep = None
    for name in names:
        ok = np.isfinite(values[name])
        keep = ok if keep is None else keep & ok
    return keep


def _pearson_differences(base: dict, a: np.ndarray, b: np.ndarray, yv: np.ndarray,
                         confidence: float) -> list[dict]:
    n = len(yv)
    r_a, r_b, r_ab = (float(coefficient("pearson", u, v)[0]) for u, v in ((a, yv), (b, yv), (a, b)))
    common = {**base, "method": "pearson", "n": n, "r_a": r_a, "r_b": r_b, "r_ab": r_ab, "scale": "r",
              "diff": r_a - r_b, "n_resamples": 0}
    if not all(map(math.isfinite, (r_a, r_b, r_ab))):
        return [{**common, "test": test, "reason": "a correlation is undefined (a constant column)"}
                for test in ("williams_t", "steiger_z")]
    if abs(r_ab) > _COLLINEAR:
        return [{**common, "test": test, "reason": "the two predictors are collinear (|r_ab| = 1): their "
                 "correlations with y agree up to sign by construction; there is nothing to test"}
                for test in ("williams_t", "steiger_z")]
    zou = dependent.zou_interval(r_a, r_b, r_ab, n, confidence)
    rows = []
    for test, result in (("williams_t", dependent.williams_t(r_a, r_b, r_ab, n)),
                         ("steiger_z", dependent.steiger_z(r_a, r_b, r_ab, n))):
        rows.append({**common, "test": test, "ci_low": zou.low, "ci_high": zou.high, "ci_method": zou.method,
                     "statistic": result.statistic, "df": result.df, "p_value": result.p_value,
                     "reason": zou.note})
    return rows


def _bootstrap_row(base: dict, method: str, test: str, r_a: float, r_b: float, r_ab: float, n: int,
                   draws: np.ndarray, confidence: float) -> dict:
    interval = intervals.percentile(draws, confidence)
    return {**base, "method": method, "test": test, "n": n, "r_a": r_a, "r_b": r_b, "r_ab": r_ab,
            "scale": "r", "diff": r_a - r_b, "ci_low": interval.low, "ci_high": interval.high,
            "ci_method": interval.method, "p_value": dependent.bootstrap_p_value(draws),
            "reason": interval.note}


def compare_predictors(
    table: pd.DataFrame,
    predictors: str | Iterable[str] = "all",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    methods: str | Iterable[str] = ("pearson", "spearman", "kendall"),
    *,
    signs: Mapping[str, int] | None = None,
    runs: pd.DataFrame | None = None,
    scheme: str = "scheme",
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> PredictorComparison:
    """Head-to-head of teacher-side predictors of the students' test loss, per pair and pooled.

    For every predictor, its correlation with ``y`` in each pair (as :func:`dastat.stats.correlate`);
    for every two predictors a and b, the difference r_a - r_b of their correlations with the same
    ``y`` over the same schemes, with an interval and a test of "no difference":

    - Pearson: Williams' t and Steiger's Z1* for dependent correlations sharing ``y`` (normal
      theory), with Zou's (2007) interval for r_a - r_b.
    - Spearman and Kendall: a bootstrap over schemes (rows resampled with replacement, both
      coefficients on the same resample): percentile interval, and the p-value at which that
      interval first excludes 0.

    Pooled over pairs (rows with ``level == "pooled"``, when there are at least 2 pairs):

    - Pearson: each pair's Fisher-z difference atanh r_a - atanh r_b with Steiger's variance,
      combined by a DerSimonian-Laird random-effects meta-analysis (``scale == "fisher_z"``);
      each predictor's pooled r is the same meta-analysis of its per-pair r.
    - Spearman and Kendall: the mean of the per-pair coefficients (or differences) weighted by
      the pairs' numbers of schemes, with a stratified bootstrap (schemes resampled within each
      pair): percentile interval and p-value as above.

    Parameters
    ----------
    table : DataFrame
        One row per scheme and pair, e.g. ``dastat.store.open().table()``: the ``by`` keys, ``y``
        and the predictor columns.
    predictors : "all", str or sequence of str
        Columns to compare (comma-separated if a string); "all" takes every one of
        :data:`PREDICTORS` that the table holds numbers for.
    y : str
        The outcome (default the student's test loss).
    by : str or sequence of str or None
        The keys of a pair (default dataset, teacher, student).
    methods : sequence of {"pearson", "spearman", "kendall"}
    runs : DataFrame, optional
        One row per run, as ``dastat.store.open().runs()`` (a ``kind`` column: "probe" rows carry
        the predictors, "student" rows carry ``y``). Adds, per pair and rank or Pearson method,
        rows with ``test == "bootstrap_runs"``: probe runs (all predictors of a run together) and
        student runs are resampled within each scheme, the scheme means and both coefficients
        recomputed, and the difference's percentile interval and p-value reported. It asks "does the
        difference survive the seed noise behind each point?", not "would other schemes agree".
    scheme : str
        The column naming each run's augmentation in ``runs``.
    signs : mapping of predictor to 1 or -1, optional
        Orientation (default :data:`DEFAULT_SIGNS`): a predictor enters multiplied by its sign,
        so that for each one a lower value should predict a lower loss and r > 0 means "predicts
        in the expected direction"; the differences compare oriented correlations.
    confidence : float in (0, 1)
    n_resamples : int >= 0
        Bootstrap resamples (rank intervals, rank differences) and Monte Carlo permutations; 0
        skips them (their intervals and p-values are NaN; Pearson's need none).
    seed : int >= 0
        Each pair, predictor, comparison and method draws from its own stream.

    Returns
    -------
    PredictorComparison
        ``correlations``: ``level`` ("pair"/"pooled"), the ``by`` keys (empty for pooled rows),
        ``predictor``, ``sign``, ``y``, ``method``, ``n`` (schemes with a finite predictor and y;
        pooled: summed), ``n_dropped``, ``r``, ``ci_low``, ``ci_high``, ``ci_method``, ``p_value``,
        ``p_perm``, ``n_pairs``, ``confidence``, ``n_resamples``, ``seed``, ``reason``.
        ``differences``: ``level``, the ``by`` keys, ``predictor_a``, ``predictor_b``, ``y``,
        ``method``, ``test`` (williams_t, steiger_z, bootstrap_schemes, bootstrap_runs; pooled: meta_steiger_z,
        bootstrap_schemes_stratified), ``n`` (schemes where a, b and y are all finite), ``n_pairs``,
        ``r_a``, ``r_b``, ``r_ab`` (the two predictors' own correlation), ``scale`` ("r" or
        "fisher_z"), ``diff`` (r_a - r_b on that scale), ``ci_low``, ``ci_high``, ``ci_method``,
        ``statistic``, ``df`` (inf for z), ``p_value``, ``confidence``, ``n_resamples``, ``seed``,
        ``reason``.

    Raises
    ------
    InvalidArgumentError
        Fewer than two predictors, a missing column, a sign other than ±1, or an argument out of range.

    Notes
    -----
    In dastat's simulations (trivariate normal, rho_ya = rho_yb = rho_ab = 0.5, 5% level) Williams'
    t rejected 4.3% at n = 9 and 4.75% at n = 30 (4,000 repetitions; Steiger's z 3.8% and 4.65%);
    the scheme bootstrap rejected 3.5% (Spearman) and 3.0% (Kendall) at n = 9 and 5.25% and 2.25%
    at n = 30 (400 repetitions): conservative for Kendall, whose resamples gain ties. At the
    paper's n = 9 schemes per pair only large differences are detectable: with predictors correlated
    0.7, Williams' t found rho 0.9 against 0.7 in 24% of samples (4,000 repetitions), the pooled
    Steiger-z meta-analysis of 8 such pairs in 96% (1,000). The run bootstrap widens
    each resampled scheme mean by sqrt(m / (m - 1)) for m runs: without it, 9 schemes x 3 seeds with
    a difference made only of seed noise were rejected 13% of the time (200 repetitions); with it,
    12 schemes x 3 seeds gave 5.0% (300 repetitions).
    """
    table = check_frame(table, "table")
    by = check_by(by, table)
    methods = check_methods(methods)
    confidence = check_fraction(confidence, "confidence")
    n_resamples = check_int(n_resamples, "n_resamples", low=0)
    seed = check_int(seed, "seed", low=0)
    predictors = _check_predictors(table, predictors)
    require_columns(table, [*by, y, *predictors], name="table")
    sign = _check_signs(signs, predictors)
    table = table.assign(**{c: numeric(table, c, name="table") for c in dict.fromkeys([y, *predictors])})
    rank_methods = [m for m in methods if m != "pearson"]
    if runs is not None:
        runs = with_kd_method(check_frame(runs, "runs"))
        require_columns(runs, ["kind", scheme, y, *predictors], name="runs")

    corr_rows, diff_rows = [], []
    # Per pair, what the pooled rows need: (n, r) per predictor and method, (n, r_a, r_b, r_ab) per
    # comparison, and the bootstrap draws of the rank coefficients and differences.
    pair_corr: dict[tuple, list] = {}
    pair_diff: dict[tuple, list] = {}
    for keys, rows in groups(table, by):
        label = "|".join(map(str, keys.values()))
        yv = rows[y].to_numpy()
        values = {p: sign[p] * rows[p].to_numpy() for p in predictors}
        for p in predictors:
            keep = _finite(values | {y: yv}, [p, y])
            for method in methods:
                rng = np.random.default_rng(derive_seed(seed, f"predictors:{label}:{p}:{method}"))
                result = correlation(values[p][keep], yv[keep], method=method, x_name=p, y_name=y,
                                     n_dropped=int((~keep).sum()), confidence=confidence,
                                     n_resamples=n_resamples, seed=seed, rng=rng)
                record = result.to_dict()
                record["predictor"] = record.pop("x")
                corr_rows.append({"level": "pair", **keys, **record, "sign": sign[p], "n_pairs": 1})
                if method != "pearson" and math.isfinite(result.r) and n_resamples > 0:
                    boot = intervals.bootstrap_distribution(method, values[p][keep], yv[keep],
                                                            n_resamples=n_resamples, rng=rng)
                else:
                    boot = None
                pair_corr.setdefault((p, method), []).append((result.n, result.r, boot))
        for a, b in itertools.combinations(predictors, 2):
            keep = _finite(values | {y: yv}, [a, b, y])
            n = int(keep.sum())
            base = {"level": "pair", **keys, "predictor_a": a, "predictor_b": b, "y": y, "n_pairs": 1,
                    "confidence": confidence, "seed": seed}
            if n < MIN_POINTS:
                for method in methods:
                    diff_rows.append({**base, "method": method, "n": n,
                                      "reason": f"fewer than {MIN_POINTS} schemes with {a}, {b} and {y}"})
                continue
            av, bv, ys = values[a][keep], values[b][keep], yv[keep]
            if "pearson" in methods:
                rows_p = _pearson_differences(base, av, bv, ys, confidence)
                diff_rows += rows_p
                pair_diff.setdefault((a, b, "pearson"), []).append(
                    (n, rows_p[0]["r_a"], rows_p[0]["r_b"], rows_p[0]["r_ab"], None))
            for method in rank_methods:
                r_a, r_b, r_ab = (float(coefficient(method, u, v)[0]) for u, v in ((av, ys), (bv, ys), (av, bv)))
                if n_resamples == 0:
                    diff_rows.append({**base, "method": method, "test": "bootstrap_schemes", "n": n, "r_a": r_a,
                                      "r_b": r_b, "r_ab": r_ab, "scale": "r", "diff": r_a - r_b,
                                      "n_resamples": 0, "reason": "n_resamples = 0: no bootstrap"})
                    pair_diff.setdefault((a, b, method), []).append((n, r_a, r_b, r_ab, None))
                    continue
                rng = np.random.default_rng(derive_seed(seed, f"predictors:{label}:{a}-{b}:{method}"))
                boot = dependent.bootstrap_differences(method, ys, np.column_stack([av, bv]),
                                                       n_resamples=n_resamples, rng=rng)
                draws = boot[:, 0] - boot[:, 1]
                diff_rows.append({**_bootstrap_row(base, method, "bootstrap_schemes", r_a, r_b, r_ab, n,
                                                   draws, confidence), "n_resamples": n_resamples})
                pair_diff.setdefault((a, b, method), []).append((n, r_a, r_b, r_ab, draws))

        if runs is not None:
            diff_rows += _run_bootstrap_rows(runs, keys, label, predictors, sign, y, scheme, methods,
                                             confidence, n_resamples, seed)

    n_pairs = len({tuple(r[k] for k in by) for r in corr_rows}) if by else 1
    if n_pairs >= 2:
        common = {"level": "pooled", "y": y, "confidence": confidence, "seed": seed}
        for (p, method), items in pair_corr.items():
            corr_rows.append({**common, **_pooled_correlation(method, items, confidence, n_resamples),
                              "predictor": p, "sign": sign[p], "method": method})
        for (a, b, method), items in pair_diff.items():
            diff_rows.append({**common, **_pooled_difference(method, items, confidence, n_resamples),
                              "predictor_a": a, "predictor_b": b, "method": method})
    correlations = pd.DataFrame(corr_rows, columns=["level", *by, *CORRELATION_COLUMNS[1:]])
    differences = pd.DataFrame(diff_rows, columns=["level", *by, *DIFFERENCE_COLUMNS[1:]])
    return PredictorComparison(correlations, differences)


def _stratified(items: list) -> tuple[float, np.ndarray | None, int, int]:
    """Weighted mean of the finite per-pair values (weights: n), and of their bootstrap draws if all have them."""
    usable = [(n, value, draws) for n, value, draws in items if math.isfinite(value)]
    if not usable:
        return math.nan, None, 0, 0
    w = np.array([n for n, _, _ in usable], float)
    estimate = float(np.dot(w, [v for _, v, _ in usable]) / w.sum())
    if any(d is None for _, _, d in usable):
        return estimate, None, int(w.sum()), len(usable)
    draws = (w[:, None] * np.stack([d for _, _, d in usable])).sum(0) / w.sum()
    return estimate, draws, int(w.sum()), len(usable)


def _stratified_interval(draws: np.ndarray | None, confidence: float) -> tuple[intervals.CoefficientInterval, float]:
    if draws is None:
        return intervals.CoefficientInterval(math.nan, math.nan, "none", "n_resamples = 0: no bootstrap"), math.nan
    return intervals.percentile(draws, confidence), dependent.bootstrap_p_value(draws)


def _pooled_correlation(method: str, items: list, confidence: float, n_resamples: int) -> dict:
    skipped = len(items)
    if method == "pearson":
        usable = [(n, r) for n, r, _ in items if n > 3 and math.isfinite(r) and abs(r) < 1]
        skipped -= len(usable)
        if not usable:
            return {"n": 0, "n_pairs": 0, "r": math.nan, "reason": "no pair with n > 3 and |r| < 1"}
        ns, rs = np.array([n for n, _ in usable], float), np.array([r for _, r in usable])
        meta = meta_analysis(rs, ns, confidence)
        return {"n": int(ns.sum()), "n_pairs": len(usable), "r": meta["estimate"], "ci_low": meta["ci_low"],
                "ci_high": meta["ci_high"], "ci_method": "meta_fisher_z", "p_value": meta["p_value"],
                "n_resamples": 0,
                "reason": f"{skipped} pair(s) left out: n <= 3 or |r| = 1" if skipped else ""}
    estimate, draws, n, used = _stratified(items)
    interval, p_value = _stratified_interval(draws, confidence)
    reason = f"{len(items) - used} pair(s) without a coefficient left out" if used < len(items) else ""
    return {"n": n, "n_pairs": used, "r": estimate, "ci_low": interval.low, "ci_high": interval.high,
            "ci_method": "stratified_bootstrap_percentile", "p_value": p_value,
            "n_resamples": n_resamples, "reason": "; ".join(filter(None, [reason, interval.note]))}


def _pooled_difference(method: str, items: list, confidence: float, n_resamples: int) -> dict:
    if method == "pearson":
        usable = [(n, ra, rb, rab) for n, ra, rb, rab, _ in items
                  if n > 3 and all(map(math.isfinite, (ra, rb, rab))) and max(abs(ra), abs(rb)) < 1
                  and abs(rab) <= _COLLINEAR]
        if not usable:
            return {"test": "meta_steiger_z", "n": 0, "n_pairs": 0, "scale": "fisher_z",
                    "reason": "no pair with n > 3, |r| < 1 and predictors not collinear"}
        diffs = [math.atanh(ra) - math.atanh(rb) for _, ra, rb, _ in usable]
        variances = [dependent.steiger_variance(ra, rb, rab, n) for n, ra, rb, rab in usable]
        meta = random_effects(np.array(diffs), np.array(variances), confidence)
        left = len(items) - len(usable)
        return {"test": "meta_steiger_z", "n": int(sum(u[0] for u in usable)), "n_pairs": len(usable),
                "scale": "fisher_z", "diff": meta["estimate"], "ci_low": meta["ci_low"],
                "ci_high": meta["ci_high"], "ci_method": "dersimonian_laird",
                "statistic": meta["estimate"] / meta["se"], "df": math.inf, "p_value": meta["p_value"],
                "n_resamples": 0,
                "reason": f"{left} pair(s) left out: n <= 3, |r| = 1 or collinear predictors" if left else ""}
    diff_items = [(n, ra - rb, draws) for n, ra, rb, _, draws in items]
    estimate, draws, n, used = _stratified(diff_items)
    interval, p_value = _stratified_interval(draws, confidence)
    return {"test": "bootstrap_schemes_stratified", "n": n, "n_pairs": used, "scale": "r", "diff": estimate,
            "ci_low": interval.low, "ci_high": interval.high, "ci_method": "stratified_bootstrap_percentile",
            "p_value": p_value, "n_resamples": n_resamples, "reason": interval.note}


def _resampled_mean(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of with-replacement resamples of the m runs [m, P] -> [B, P], spread widened by sqrt(m / (m - 1)).

    A resampled mean of m runs varies by (m - 1) / m of the variance of the mean of m fresh runs
    (Efron & Tibshirani 1993, section 5.2): with 3 seeds a scheme's noise would be under-stated by a
    third. Widening the deviations from the observed mean restores it; one run contributes none.
    """
    m = len(values)
    mean = np.nanmean(values, axis=0)
    if m == 1:
        return np.broadcast_to(mean, (n_resamples, values.shape[1])).copy()
    boot = np.nanmean(values[rng.integers(0, m, (n_resamples, m))], axis=1)  # [B, P]
    return mean + math.sqrt(m / (m - 1)) * (boot - mean)


def _run_bootstrap_rows(runs: pd.DataFrame, keys: dict, label: str, predictors: list[str], sign: dict[str, int],
                        y: str, scheme: str, methods: tuple[str, ...], confidence: float, n_resamples: int,
                        seed: int) -> list[dict]:
    """``bootstrap_runs`` rows of one pair: runs resampled within each scheme, as correlate_runs does."""
    probes, students = runs[runs["kind"] == "probe"], runs[runs["kind"] == "student"]
    for k, v in keys.items():
        students = students[students[k].astype(str) == str(v)]
        # A probe run has no student: match it on the keys it holds.
        if k in probes.columns and probes[k].notna().all():
            probes = probes[probes[k].astype(str) == str(v)]
    x_runs = {str(s): np.column_stack([sign[p] * numeric(rows, p).to_numpy() for p in predictors])
              for s, rows in probes.groupby(scheme, sort=False)}  # scheme -> [runs, P]
    y_runs = {str(s): v[np.isfinite(v)] for s, v in
              ((s, numeric(rows, y).to_numpy()) for s, rows in students.groupby(scheme, sort=False))}
    schemes = [s for s in y_runs if s in x_runs and len(y_runs[s])]
    base = {"level": "pair", **keys, "y": y, "n_pairs": 1, "test": "bootstrap_runs", "scale": "r",
            "confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    if n_resamples == 0 or len(schemes) < MIN_POINTS:
        why = ("n_resamples = 0: no bootstrap" if n_resamples == 0
               else f"fewer than {MIN_POINTS} schemes with both probe and student runs")
        return [{**base, "predictor_a": a, "predictor_b": b, "method": m, "n": len(schemes), "reason": why}
                for a, b in itertools.combinations(predictors, 2) for m in methods]
    rng = np.random.default_rng(derive_seed(seed, f"predictors-runs:{label}"))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a scheme whose resample drew only NaN runs
        x_mean = np.stack([np.nanmean(x_runs[s], axis=0) for s in schemes])  # [S, P]
        y_mean = np.array([y_runs[s].mean() for s in schemes])  # [S]
        x_boot = np.stack([_resampled_mean(x_runs[s], n_resamples, rng) for s in schemes], axis=1)  # [B, S, P]
        y_boot = np.stack([_resampled_mean(y_runs[s][:, None], n_resamples, rng)[:, 0] for s in schemes],
                          axis=1)  # [B, S]
    rows = []
    for (i, a), (j, b) in itertools.combinations(enumerate(predictors), 2):
        keep = np.isfinite(x_mean[:, i]) & np.isfinite(x_mean[:, j])
        n = int(keep.sum())
        for method in methods:
            if n < MIN_POINTS:
                rows.append({**base, "predictor_a": a, "predictor_b": b, "method": method, "n": n,
                             "reason": f"fewer than {MIN_POINTS} schemes with {a} and {b} in their probe runs"})
                continue
            xa, xb, ym = x_mean[keep, i], x_mean[keep, j], y_mean[keep]
            r_a, r_b, r_ab = (float(coefficient(method, u, v)[0]) for u, v in ((xa, ym), (xb, ym), (xa, xb)))
            draws = (coefficient(method, x_boot[:, keep, i], y_boot[:, keep])
                     - coefficient(method, x_boot[:, keep, j], y_boot[:, keep]))
            rows.append({**_bootstrap_row({**base, "predictor_a": a, "predictor_b": b}, method, "bootstrap_runs",
                                          r_a, r_b, r_ab, n, draws, confidence), "n_resamples": n_resamples})
    return rows
