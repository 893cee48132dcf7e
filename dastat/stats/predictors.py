"""Which teacher-side statistic predicts the students' test loss best? A head-to-head, per pair and pooled.

Two questions, each with its own test, Holm family and words (docs/method.md, "Teacher-side predictors"):

- **oriented**: each predictor enters with its declared sign (:data:`DEFAULT_SIGNS`), so r > 0 means
  "predicts in its declared direction"; a difference says which follows its declared direction more.
  Two predictors of opposite observed signs differ here by about |r_a| + |r_b|: a difference of sign.
- **strength**: each predictor enters with the sign that fits the data of that pair (stated in
  ``sign_a``/``sign_b``), so the difference is |r_a| - |r_b|: which one orders the losses more
  closely, whichever way.

Measured levels (dastat's simulations, trivariate normal, 5% level): with rho_ya = rho_yb = rho_ab =
0.5, Williams' t rejected 4.3% at n = 9 and 4.75% at n = 30 (4,000 repetitions; Steiger's z 3.8% and
4.65%); with rho_ya = rho_yb = 0.8 and near-collinear predictors (rho_ab = 0.95) Williams' t kept its
level even at n = 5 (4.9%) while Steiger's z rejected 0.8%. At so few points the two disagree by an
order of magnitude on the same data and the verdict rests on the normality of 5 to 7 schemes, so
below ``MIN_DEPENDENT_N`` neither is read, and a Williams' t that Steiger's z contradicts at the
level reads "cannot decide". The scheme bootstrap rejected 3.5% (Spearman) and 3.0% (Kendall) at
n = 9 (400 repetitions). The run bootstrap widens each resampled scheme mean by sqrt(m / (m - 1))
for m runs: without it, 9 schemes x 3 seeds with a difference made only of seed noise were rejected
13% of the time (200 repetitions); with it, 12 schemes x 3 seeds gave 5.0% (300 repetitions).
"""

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
from dastat.stats import dependent, intervals, verdicts
from dastat.stats.coefficients import coefficient
from dastat.stats.correlation import MIN_POINTS, check_methods, correlation
from dastat.stats.pooled import MIN_RANDOM_EFFECTS_PAIRS, random_effects
from dastat.stats.power import detectable_difference
from dastat.stats.resampling import canonical_order, data_rng, fixed_effect_draws, joint_layout
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

# Declared orientation, a priori (the table and its reasons: docs/method.md, "Teacher-side predictors"):
# each predictor enters multiplied by its sign, so that under the paper's account a lower value predicts
# a lower loss for all of them. A higher teacher entropy or cross-entropy on x', or a larger change from
# x to x', spreads the teacher's probabilities and lowers T. stddev, so they enter negated.
DEFAULT_SIGNS: Mapping[str, int] = {"mean_entropy_xprime": -1, "entropy_xprime": -1, "ce_xprime": -1,
                                    "consistency": -1}
COMPARISONS: tuple[str, ...] = ("oriented", "strength")

# |r_ab| beyond this: the two predictors order the schemes identically up to rounding (e.g.
# t_stddev_rel where the floor is the same for every scheme), and no difference can be tested.
_COLLINEAR = 1 - 1e-12
# Fewer points than this: Williams' t and Steiger's z are not read (see compare_predictors, Notes).
MIN_DEPENDENT_N = 8

CORRELATION_COLUMNS = ("level", "predictor", "sign", "y", "method", "n", "n_dropped", "r", "ci_low",
                       "ci_high", "ci_method", "p_value", "p_perm", "n_pairs", "confidence",
                       "n_resamples", "seed", "reason")
DIFFERENCE_COLUMNS = ("level", "comparison", "predictor_a", "predictor_b", "sign_a", "sign_b", "y", "method",
                      "test", "n", "n_pairs", "r_a", "r_b", "r_ab", "scale", "diff", "ci_low", "ci_high",
                      "ci_method", "statistic", "df", "p_value", "confidence", "n_resamples", "seed", "reason",
                      "n_power", "detectable_diff", "detectable_diff_holm")
# The test each level and method is read by: its p-value enters the Holm family, its verdict the report.
VERDICT_TESTS: Mapping[tuple[str, str], str] = {
    ("pair", "pearson"): "williams_t", ("pair", "spearman"): "bootstrap_schemes",
    ("pair", "kendall"): "bootstrap_schemes", ("pooled", "pearson"): "joint_bootstrap_schemes",
    ("pooled", "spearman"): "joint_bootstrap_schemes", ("pooled", "kendall"): "joint_bootstrap_schemes"}


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
        """The verdict of every comparison of :data:`VERDICT_TESTS`, Holm-adjusted within its family.

        A family is one level, pair, method and comparison (oriented or strength). Columns: the keys,
        ``comparison``, ``test``, the predictors and their signs, ``n``, ``r_a``, ``r_b``, ``r_ab``,
        ``diff``, ``ci_low``, ``ci_high``, ``p_value``, ``p_holm``, ``m`` (tested comparisons in the
        family), ``verdict`` (:func:`dastat.stats.verdicts.difference_verdict`), ``winner`` and
        ``loser`` (where told apart, else ""), ``diff_winner`` = r_winner - r_loser with its interval
        ``ci_low_winner``/``ci_high_winner`` (the interval of r_a - r_b turned round when b wins),
        the detectable differences and ``reason``.
        """
        alpha = check_fraction(alpha, "alpha")
        d = self.differences
        if d.empty:
            return pd.DataFrame()
        wanted = [VERDICT_TESTS.get((lv, m)) == t for lv, m, t in zip(d["level"], d["method"], d["test"])]
        d = d[wanted].copy()
        keys = [k for k in d.columns if k not in DIFFERENCE_COLUMNS] + ["level", "method", "comparison"]
        d["p_holm"] = d.groupby(keys, dropna=False)["p_value"].transform(verdicts.holm)
        d["m"] = d.groupby(keys, dropna=False)["p_value"].transform("count")
        d["verdict"] = [verdicts.difference_verdict(p, q, alpha, s)
                        for p, q, s in zip(d["p_value"], d["p_holm"], _second_opinion(self.differences, d))]
        told = d["verdict"] == verdicts.TOLD_APART
        a_wins = told & (d["diff"] > 0)
        d["winner"] = np.where(told, np.where(a_wins, d["predictor_a"], d["predictor_b"]), "")
        d["loser"] = np.where(told, np.where(a_wins, d["predictor_b"], d["predictor_a"]), "")
        flip = np.where(d["diff"] < 0, -1.0, 1.0)
        d["diff_winner"] = flip * d["diff"]
        low, high = flip * d["ci_low"], flip * d["ci_high"]
        d["ci_low_winner"], d["ci_high_winner"] = np.minimum(low, high), np.maximum(low, high)
        cols = [*keys, "test", "predictor_a", "predictor_b", "sign_a", "sign_b", "n", "n_pairs", "r_a", "r_b",
                "r_ab", "diff", "ci_low", "ci_high", "p_value", "p_holm", "m", "verdict", "winner", "loser",
                "diff_winner", "ci_low_winner", "ci_high_winner", "n_power", "detectable_diff",
                "detectable_diff_holm", "reason"]
        return d[[c for c in cols if c in d.columns]].reset_index(drop=True)


def _second_opinion(all_rows: pd.DataFrame, chosen: pd.DataFrame) -> list[float]:
    """For each Williams' t row, Steiger's z p-value of the same comparison (NaN for other tests)."""
    steiger = all_rows[all_rows["test"] == "steiger_z"]
    keys = [k for k in all_rows.columns if k not in DIFFERENCE_COLUMNS] + ["level", "comparison",
                                                                           "predictor_a", "predictor_b"]
    lookup = {tuple(r[k] for k in keys): r["p_value"] for _, r in steiger.iterrows()}
    return [lookup.get(tuple(r[k] for k in keys), math.nan) if r["test"] == "williams_t" else math.nan
            for _, r in chosen.iterrows()]


def available_predictors(table: pd.DataFrame) -> list[str]:
    """The known predictors (:data:`PREDICTORS`, or their :data:`STAND_INS`) that ``table`` holds numbers for."""
    found = []
    for name in PREDICTORS:
        if has_values(table, name):
            found.append(name)
        elif name in STAND_INS and has_values(table, STAND_INS[name]):
            found.append(STAND_INS[name])
    return found


def declared_sign(predictor: str, signs: Mapping[str, int] | None = None) -> int:
    """The a-priori orientation of ``predictor`` (:data:`DEFAULT_SIGNS`, overridden by ``signs``)."""
    return int({**DEFAULT_SIGNS, **(signs or {})}.get(predictor, 1))


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
    for name, sign in {**DEFAULT_SIGNS, **(signs or {})}.items():
        if sign not in (1, -1):
            raise InvalidArgumentError(f"signs[{name!r}] must be 1 or -1; got {sign!r}")
    return {p: declared_sign(p, signs) for p in predictors}


@dataclass(frozen=True)
class _Pair:
    """One pair's data: its keys, the scheme of each row, y and every predictor (declared orientation)."""

    keys: dict
    units: np.ndarray  # [n] scheme names (the unit a joint bootstrap resamples)
    y: np.ndarray  # [n]
    values: dict  # predictor -> [n], multiplied by its declared sign

    def finite(self, *names: str) -> np.ndarray:
        keep = np.isfinite(self.y)
        for name in names:
            keep &= np.isfinite(self.values[name])
        return keep


@dataclass(frozen=True)
class _Settings:
    methods: tuple[str, ...]
    confidence: float
    n_resamples: int
    seed: int
    y: str


def _fitted_sign(method: str, x: np.ndarray, y: np.ndarray) -> int:
    """The sign that makes ``x`` correlate non-negatively with ``y`` (1 where r is 0 or undefined)."""
    r = float(coefficient(method, x, y)[0]) if len(x) >= MIN_POINTS else math.nan
    return -1 if r < 0 else 1


def _oriented_pair(pair: _Pair, a: str, b: str, method: str, comparison: str,
                   keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """a and b over the kept rows, each in the orientation of the comparison, and the signs applied."""
    av, bv = pair.values[a][keep], pair.values[b][keep]
    if comparison == "oriented":
        return av, bv, 1, 1
    fa, fb = _fitted_sign(method, av, pair.y[keep]), _fitted_sign(method, bv, pair.y[keep])
    return fa * av, fb * bv, fa, fb


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
    power: float = 0.8,
    n_power_sims: int = 400,
) -> PredictorComparison:
    """Head-to-head of teacher-side predictors of the students' test loss, per pair and pooled.

    For every predictor, its correlation with ``y`` in each pair (as :func:`dastat.stats.correlate`,
    the same numbers for the same points); for every two predictors a and b and both comparisons
    (``oriented``, ``strength``: module docstring), the difference r_a - r_b of their correlations
    with the same ``y`` over the same schemes, with an interval and a test: Williams' t and
    Steiger's Z1* with Zou's (2007) interval for Pearson (not read below :data:`MIN_DEPENDENT_N`
    schemes), a bootstrap over schemes for Spearman and Kendall (percentile interval; p never
    below 2 / (B + 1)).

    Pooled over pairs (``level == "pooled"``, at least 2 pairs): a **fixed-effect summary of these
    pairs**, the per-pair coefficients (or differences) averaged with weights n, on the r scale,
    with a joint bootstrap: the schemes are drawn once for all pairs, so a scheme several pairs
    share counts once. With at least :data:`MIN_RANDOM_EFFECTS_PAIRS` pairs a DerSimonian-Laird
    pool of the Pearson differences on Fisher's z scale is added (``scale == "fisher_z"``).

    Every verdict row (:data:`VERDICT_TESTS`) carries ``detectable_diff``, the smallest true
    difference Williams' t detects with probability ``power`` at its n and level 1 - confidence,
    and ``detectable_diff_holm`` at that level over the tested comparisons of its Holm family,
    simulated around the row's own correlations (:mod:`dastat.stats.power`; pooled rows at
    ``n_power`` = the distinct schemes; the rank bootstrap has no more power than this).

    Parameters
    ----------
    table : DataFrame
        One row per scheme and pair (``dastat.store.open().table()``): ``by``, ``y``, ``scheme``
        and the predictor columns.
    predictors : "all", str or sequence of str
        Columns to compare (comma-separated if a string); "all": every one of :data:`PREDICTORS`
        that the table holds numbers for.
    y, by, methods
        The outcome, the keys of a pair and the coefficients, as in :func:`dastat.stats.correlate`.
    signs : mapping of predictor to 1 or -1, optional
        The declared orientation (default :data:`DEFAULT_SIGNS`, every other predictor +1).
    runs : DataFrame, optional
        One row per run (``dastat.store.open().runs()``, a ``kind`` column). Adds oriented rows with
        ``test == "bootstrap_runs"``: runs resampled within each scheme, "does the difference
        survive the seed noise behind each point?".
    scheme : str
        The column naming each row's (and run's) scheme, the unit the joint bootstrap draws.
    confidence : float in (0, 1)
    n_resamples : int >= 0
        Bootstrap resamples and Monte Carlo permutations; 0 skips them.
    seed : int >= 0
        Seeds every bootstrap with the data it resamples: the same data give the same interval
        wherever they appear.
    power : float in (0, 1)
        The power of the detectable differences (default 0.8).
    n_power_sims : int >= 0
        Simulated samples per grid point of the power search; 0 skips it.

    Returns
    -------
    PredictorComparison
        ``correlations`` (:data:`CORRELATION_COLUMNS` with the ``by`` keys after ``level``) and
        ``differences`` (:data:`DIFFERENCE_COLUMNS` likewise): ``sign_a``/``sign_b`` are the signs
        the predictors entered with, ``test`` one of williams_t, steiger_z, bootstrap_schemes,
        bootstrap_runs, joint_bootstrap_schemes, random_effects_steiger_z, ``diff`` = r_a - r_b.

    Raises
    ------
    InvalidArgumentError
        Fewer than two predictors, a missing column, a sign other than ±1, or an argument out of range.
    """
    table = check_frame(table, "table")
    by = check_by(by, table)
    settings = _Settings(check_methods(methods), check_fraction(confidence, "confidence"),
                         check_int(n_resamples, "n_resamples", low=0), check_int(seed, "seed", low=0), y)
    power = check_fraction(power, "power")
    n_power_sims = check_int(n_power_sims, "n_power_sims", low=0)
    predictors = _check_predictors(table, predictors)
    require_columns(table, [*by, y, *predictors], name="table")
    sign = _check_signs(signs, predictors)
    pairs = _pairs(table, by, y, predictors, sign, scheme)
    if runs is not None:
        runs = with_kd_method(check_frame(runs, "runs"))
        require_columns(runs, ["kind", scheme, y, *predictors], name="runs")

    corr_rows, diff_rows = [], []
    for pair in pairs:
        corr_rows += _pair_correlations(pair, predictors, sign, settings)
        for a, b in itertools.combinations(predictors, 2):
            diff_rows += _pair_differences(pair, a, b, sign, settings)
        if runs is not None:
            diff_rows += _run_bootstrap_rows(runs, pair.keys, predictors, sign, scheme, settings)
    if len(pairs) >= 2:
        corr_rows += _pooled_correlations(pairs, predictors, sign, settings)
        for a, b in itertools.combinations(predictors, 2):
            diff_rows += _pooled_differences(pairs, a, b, sign, settings)
    correlations = pd.DataFrame(corr_rows, columns=["level", *by, *CORRELATION_COLUMNS[1:]])
    differences = pd.DataFrame(diff_rows, columns=["level", *by, *DIFFERENCE_COLUMNS[1:]])
    differences = _with_power(differences, by, settings, power, n_power_sims)
    return PredictorComparison(correlations, differences)


def _pairs(table: pd.DataFrame, by: tuple[str, ...], y: str, predictors: list[str], sign: dict[str, int],
           scheme: str) -> list[_Pair]:
    numbers = {c: numeric(table, c, name="table").to_numpy(float) for c in dict.fromkeys([y, *predictors])}
    table = table.assign(_row=np.arange(len(table)))
    units = (table[scheme].astype(str).to_numpy() if scheme in table.columns
             else np.array([f"row{i}" for i in range(len(table))]))
    out = []
    for keys, rows in groups(table, by):
        idx = rows["_row"].to_numpy()
        idx = idx[np.argsort(units[idx], kind="stable")]  # scheme order: the data's order, not the table's
        out.append(_Pair(keys, units[idx], numbers[y][idx], {p: sign[p] * numbers[p][idx] for p in predictors}))
    return out


def _pair_correlations(pair: _Pair, predictors: list[str], sign: dict[str, int], s: _Settings) -> list[dict]:
    rows = []
    for p in predictors:
        keep = pair.finite(p)
        for method in s.methods:
            result = correlation(pair.values[p][keep], pair.y[keep], method=method, x_name=p, y_name=s.y,
                                 n_dropped=int((~keep).sum()), confidence=s.confidence,
                                 n_resamples=s.n_resamples, seed=s.seed)
            record = result.to_dict()
            record["predictor"] = record.pop("x")
            rows.append({"level": "pair", **pair.keys, **record, "sign": sign[p], "n_pairs": 1})
    return rows


def _pair_differences(pair: _Pair, a: str, b: str, sign: dict[str, int], s: _Settings) -> list[dict]:
    keep = pair.finite(a, b)
    n = int(keep.sum())
    rows = []
    for comparison, method in itertools.product(COMPARISONS, s.methods):
        base = {"level": "pair", **pair.keys, "comparison": comparison, "predictor_a": a, "predictor_b": b,
                "y": s.y, "method": method, "n": n, "n_pairs": 1, "confidence": s.confidence, "seed": s.seed,
                "scale": "r"}
        if n < MIN_POINTS:
            rows.append({**base, "sign_a": sign[a], "sign_b": sign[b], "test": VERDICT_TESTS[("pair", method)],
                         "reason": f"fewer than {MIN_POINTS} schemes with {a}, {b} and {s.y}"})
            continue
        av, bv, fa, fb = _oriented_pair(pair, a, b, method, comparison, keep)
        base.update(sign_a=sign[a] * fa, sign_b=sign[b] * fb)
        ys = pair.y[keep]
        if method == "pearson":
            rows += _pearson_differences(base, av, bv, ys, s.confidence)
        else:
            rows.append(_rank_difference(base, method, av, bv, ys, s))
    return rows


def _pearson_differences(base: dict, a: np.ndarray, b: np.ndarray, yv: np.ndarray,
                         confidence: float) -> list[dict]:
    n = len(yv)
    r_a, r_b, r_ab = (float(coefficient("pearson", u, v)[0]) for u, v in ((a, yv), (b, yv), (a, b)))
    common = {**base, "r_a": r_a, "r_b": r_b, "r_ab": r_ab, "diff": r_a - r_b, "n_resamples": 0}
    tests = ("williams_t", "steiger_z")
    if not all(map(math.isfinite, (r_a, r_b, r_ab))):
        return [{**common, "test": test, "reason": "a correlation is undefined (a constant column)"}
                for test in tests]
    if abs(r_ab) > _COLLINEAR:
        return [{**common, "test": test, "reason": "the two predictors are collinear (|r_ab| = 1): their "
                 "correlations with y agree up to sign by construction; there is nothing to test"} for test in tests]
    zou = dependent.zou_interval(r_a, r_b, r_ab, n, confidence)
    common.update(ci_low=zou.low, ci_high=zou.high, ci_method=zou.method)
    if n < MIN_DEPENDENT_N:
        return [{**common, "test": test, "reason": f"cannot decide: {n} schemes, fewer than {MIN_DEPENDENT_N}; "
                 "Williams' t and Steiger's z are not read at so few points"} for test in tests]
    rows = []
    for test, result in (("williams_t", dependent.williams_t(r_a, r_b, r_ab, n)),
                         ("steiger_z", dependent.steiger_z(r_a, r_b, r_ab, n))):
        rows.append({**common, "test": test, "statistic": result.statistic, "df": result.df,
                     "p_value": result.p_value, "reason": zou.note})
    return rows


def _rank_difference(base: dict, method: str, a: np.ndarray, b: np.ndarray, yv: np.ndarray, s: _Settings) -> dict:
    r_a, r_b, r_ab = (float(coefficient(method, u, v)[0]) for u, v in ((a, yv), (b, yv), (a, b)))
    row = {**base, "test": "bootstrap_schemes", "r_a": r_a, "r_b": r_b, "r_ab": r_ab, "diff": r_a - r_b,
           "n_resamples": s.n_resamples}
    if s.n_resamples == 0:
        return {**row, "reason": "n_resamples = 0: no bootstrap"}
    order = canonical_order(yv, a, b)
    yv, a, b = yv[order], a[order], b[order]
    rng = data_rng(s.seed, f"difference:{method}", yv, a, b)
    boot = dependent.bootstrap_differences(method, yv, np.column_stack([a, b]), n_resamples=s.n_resamples, rng=rng)
    return {**row, **_bootstrap_summary(boot[:, 0] - boot[:, 1], s.confidence)}


def _bootstrap_summary(draws: np.ndarray, confidence: float) -> dict:
    interval = intervals.percentile(draws, confidence)
    return {"ci_low": interval.low, "ci_high": interval.high, "ci_method": interval.method,
            "p_value": dependent.bootstrap_p_value(draws), "reason": interval.note}


def _pooled_base(pairs: list[_Pair], union: np.ndarray, keeps: list[np.ndarray]) -> str:
    shared = set.intersection(*(set(p.units[k]) for p, k in zip(pairs, keeps)))
    return (f"fixed-effect summary of these {len(pairs)} pairs (schemes resampled jointly; they share "
            f"{len(shared)} of {len(union)} schemes)")


def _pooled_correlations(pairs: list[_Pair], predictors: list[str], sign: dict[str, int],
                         s: _Settings) -> list[dict]:
    rows = []
    for p in predictors:
        keeps = [pair.finite(p) for pair in pairs]
        ns = np.array([k.sum() for k in keeps], float)
        union, index = joint_layout([pair.units[k] for pair, k in zip(pairs, keeps)])
        for method in s.methods:
            rs = np.array([float(coefficient(method, pair.values[p][k], pair.y[k])[0]) if k.sum() >= MIN_POINTS
                           else math.nan for pair, k in zip(pairs, keeps)])
            base = {"level": "pooled", "predictor": p, "sign": sign[p], "y": s.y, "method": method,
                    "n": int(ns.sum()), "n_dropped": 0, "n_pairs": len(pairs), "confidence": s.confidence,
                    "n_resamples": s.n_resamples, "seed": s.seed, "p_perm": math.nan}
            if not np.isfinite(rs).all():
                rows.append({**base, "r": math.nan, "reason": "a pair has no coefficient: nothing to pool"})
                continue
            row = {**base, "r": float(ns @ rs / ns.sum()), "ci_method": "joint_bootstrap_percentile",
                   "reason": _pooled_base(pairs, union, keeps)}
            if s.n_resamples:
                cols = [[(pair.values[p][k], pair.y[k])] for pair, k in zip(pairs, keeps)]
                rng = data_rng(s.seed, f"pooled:{method}", *[c[0] for c in cols])
                draws = fixed_effect_draws(method, cols, index, len(union), ns, rng, s.n_resamples)[:, 0]
                summary = _bootstrap_summary(draws, s.confidence)
                row.update({k: v for k, v in summary.items() if k not in ("reason", "ci_method")})
            else:
                row["reason"] += "; n_resamples = 0: no bootstrap"
            rows.append(row)
    return rows


def _pooled_differences(pairs: list[_Pair], a: str, b: str, sign: dict[str, int], s: _Settings) -> list[dict]:
    keeps = [pair.finite(a, b) for pair in pairs]
    ns = np.array([k.sum() for k in keeps], float)
    union, index = joint_layout([pair.units[k] for pair, k in zip(pairs, keeps)])
    rows = []
    for comparison, method in itertools.product(COMPARISONS, s.methods):
        base = {"level": "pooled", "comparison": comparison, "predictor_a": a, "predictor_b": b, "y": s.y,
                "method": method, "test": "joint_bootstrap_schemes", "n": int(ns.sum()), "n_pairs": len(pairs),
                "scale": "r", "confidence": s.confidence, "n_resamples": s.n_resamples, "seed": s.seed,
                "n_power": len(union)}
        if (ns < MIN_POINTS).any():
            rows.append({**base, "reason": f"a pair has fewer than {MIN_POINTS} schemes with {a}, {b} and {s.y}"})
            continue
        oriented = [_oriented_pair(pair, a, b, method, comparison, k) for pair, k in zip(pairs, keeps)]
        cols = [[(av, pair.y[k]), (bv, pair.y[k])] for (av, bv, _, _), pair, k in zip(oriented, pairs, keeps)]
        r = np.array([[float(coefficient(method, x, y)[0]) for x, y in c] for c in cols])  # [P, 2]
        r_ab = np.array([float(coefficient(method, av, bv)[0]) for av, bv, _, _ in oriented])
        if not np.isfinite(r).all():
            rows.append({**base, "reason": "a pair has no coefficient (a constant column): nothing to pool"})
            continue
        if (np.abs(r_ab) > _COLLINEAR).any():
            rows.append({**base, "r_a": float(ns @ r[:, 0] / ns.sum()), "r_b": float(ns @ r[:, 1] / ns.sum()),
                         "reason": "the two predictors are collinear in a pair (|r_ab| = 1): nothing to test"})
            continue
        fitted = {(fa, fb) for _, _, fa, fb in oriented}
        signs_ab = fitted.pop() if len(fitted) == 1 else (math.nan, math.nan)
        r_a, r_b = (float(ns @ r[:, j] / ns.sum()) for j in (0, 1))
        row = {**base, "sign_a": sign[a] * signs_ab[0], "sign_b": sign[b] * signs_ab[1], "r_a": r_a, "r_b": r_b,
               "r_ab": float(ns @ r_ab / ns.sum()), "diff": r_a - r_b, "ci_method": "joint_bootstrap_percentile",
               "reason": _pooled_base(pairs, union, keeps) + ("" if len(fitted) == 0 else
                                                             "; the fitted orientation differs between pairs")}
        if s.n_resamples:
            rng = data_rng(s.seed, f"pooled-difference:{method}:{comparison}",
                           *[(c[0][1], c[0][0], c[1][0]) for c in cols])
            draws = fixed_effect_draws(method, cols, index, len(union), ns, rng, s.n_resamples)
            summary = _bootstrap_summary(draws[:, 0] - draws[:, 1], s.confidence)
            row.update({k: v for k, v in summary.items() if k not in ("reason", "ci_method")})
        else:
            row["reason"] += "; n_resamples = 0: no bootstrap"
        rows.append(row)
        if method == "pearson" and len(pairs) >= MIN_RANDOM_EFFECTS_PAIRS:
            rows.append(_random_effects_row(base, r, r_ab, ns, s.confidence))
    return rows


def _random_effects_row(base: dict, r: np.ndarray, r_ab: np.ndarray, ns: np.ndarray, confidence: float) -> dict:
    """DerSimonian-Laird pool of the pairs' Fisher-z differences (only with enough pairs for tau^2)."""
    ok = (ns > 3) & (np.abs(r) < 1).all(axis=1) & (np.abs(r_ab) <= _COLLINEAR)
    row = {**base, "test": "random_effects_steiger_z", "scale": "fisher_z", "n_pairs": int(ok.sum()),
           "ci_method": "dersimonian_laird", "n_power": math.nan,
           "reason": "Fisher-z scale, not r; treats the pairs as independent, which pairs sharing schemes are not"}
    if ok.sum() < MIN_RANDOM_EFFECTS_PAIRS:
        return {**row, "reason": f"fewer than {MIN_RANDOM_EFFECTS_PAIRS} pairs with n > 3, |r| < 1 and "
                "predictors not collinear"}
    diffs = np.arctanh(r[ok, 0]) - np.arctanh(r[ok, 1])
    variances = [dependent.steiger_variance(ra, rb, rab, int(n)) for (ra, rb), rab, n in zip(r[ok], r_ab[ok], ns[ok])]
    meta = random_effects(diffs, np.array(variances), confidence)
    return {**row, "diff": meta["estimate"], "ci_low": meta["ci_low"], "ci_high": meta["ci_high"],
            "statistic": meta["estimate"] / meta["se"], "df": math.inf, "p_value": meta["p_value"]}


def _with_power(d: pd.DataFrame, by: tuple[str, ...], s: _Settings, power: float, n_sims: int) -> pd.DataFrame:
    """Adds the detectable differences to the verdict rows (at 1 - confidence, and over the Holm family)."""
    if d.empty or n_sims == 0:
        return d
    verdict = np.array([VERDICT_TESTS.get((lv, m)) == t for lv, m, t in zip(d["level"], d["method"], d["test"])])
    family = ["level", *by, "method", "comparison"]
    m = d[verdict].groupby(family, dropna=False)["p_value"].transform("count").reindex(d.index)
    alpha = 1 - s.confidence
    n_power = d["n_power"].fillna(d["n"])
    raw, holm = [], []
    for i, row in enumerate(d.itertuples(index=False)):
        if not verdict[i]:
            raw.append(math.nan)
            holm.append(math.nan)
            continue
        args = (int(n_power.iloc[i]), row.r_a, row.r_b, row.r_ab)
        kw = {"power": power, "n_sims": n_sims, "seed": s.seed, "strength": row.comparison == "strength"}
        raw.append(detectable_difference(*args, alpha=alpha, **kw))
        holm.append(detectable_difference(*args, alpha=alpha / max(1.0, m.iloc[i]), **kw))
    return d.assign(n_power=n_power.where(verdict), detectable_diff=raw, detectable_diff_holm=holm)

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


def _run_bootstrap_rows(runs: pd.DataFrame, keys: dict, predictors: list[str], sign: dict[str, int], scheme: str,
                        s: _Settings) -> list[dict]:
    """Oriented ``bootstrap_runs`` rows of one pair: runs resampled within each scheme, as correlate_runs does."""
    probes, students = runs[runs["kind"] == "probe"], runs[runs["kind"] == "student"]
    for k, v in keys.items():
        students = students[students[k].astype(str) == str(v)]
        # A probe run has no student: match it on the keys it holds.
        if k in probes.columns and probes[k].notna().all():
            probes = probes[probes[k].astype(str) == str(v)]
    x_runs = {str(name): np.column_stack([sign[p] * numeric(rows, p).to_numpy() for p in predictors])
              for name, rows in probes.groupby(scheme)}  # scheme -> [runs, P], schemes in sorted order
    y_runs = {str(name): v[np.isfinite(v)] for name, v in
              ((name, numeric(rows, s.y).to_numpy()) for name, rows in students.groupby(scheme))}
    schemes = [name for name in y_runs if name in x_runs and len(y_runs[name])]
    base = {"level": "pair", **keys, "comparison": "oriented", "y": s.y, "n_pairs": 1, "test": "bootstrap_runs",
            "scale": "r", "confidence": s.confidence, "n_resamples": s.n_resamples, "seed": s.seed}
    pairs = list(itertools.combinations(enumerate(predictors), 2))
    if s.n_resamples == 0 or len(schemes) < MIN_POINTS:
        why = ("n_resamples = 0: no bootstrap" if s.n_resamples == 0
               else f"fewer than {MIN_POINTS} schemes with both probe and student runs")
        return [{**base, "predictor_a": a, "predictor_b": b, "sign_a": sign[a], "sign_b": sign[b], "method": m,
                 "n": len(schemes), "reason": why} for (_, a), (_, b) in pairs for m in s.methods]
    rng = data_rng(s.seed, "predictor-runs", [x_runs[name] for name in schemes], [y_runs[name] for name in schemes])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a scheme whose resample drew only NaN runs
        x_mean = np.stack([np.nanmean(x_runs[name], axis=0) for name in schemes])  # [S, P]
        y_mean = np.array([y_runs[name].mean() for name in schemes])  # [S]
        x_boot = np.stack([_resampled_mean(x_runs[name], s.n_resamples, rng) for name in schemes], axis=1)  # [B, S, P]
        y_boot = np.stack([_resampled_mean(y_runs[name][:, None], s.n_resamples, rng)[:, 0] for name in schemes],
                          axis=1)  # [B, S]
    rows = []
    for (i, a), (j, b) in pairs:
        keep = np.isfinite(x_mean[:, i]) & np.isfinite(x_mean[:, j])
        n = int(keep.sum())
        for method in s.methods:
            row = {**base, "predictor_a": a, "predictor_b": b, "sign_a": sign[a], "sign_b": sign[b],
                   "method": method, "n": n}
            if n < MIN_POINTS:
                rows.append({**row, "reason": f"fewer than {MIN_POINTS} schemes with {a} and {b} in their probe runs"})
                continue
            xa, xb, ym = x_mean[keep, i], x_mean[keep, j], y_mean[keep]
            r_a, r_b, r_ab = (float(coefficient(method, u, v)[0]) for u, v in ((xa, ym), (xb, ym), (xa, xb)))
            draws = (coefficient(method, x_boot[:, keep, i], y_boot[:, keep])
                     - coefficient(method, x_boot[:, keep, j], y_boot[:, keep]))
            rows.append({**row, "r_a": r_a, "r_b": r_b, "r_ab": r_ab, "diff": r_a - r_b,
                         **_bootstrap_summary(draws, s.confidence)})
    return rows
