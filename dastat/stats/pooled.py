"""Across pairs: does T. stddev predict the students' test loss once each pair keeps its own level?"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.special import ndtr

from dastat.checks import check_choice, check_fraction, check_int
from dastat.errors import InvalidArgumentError
from dastat.stats.coefficients import coefficient
from dastat.stats.correlation import MIN_POINTS
from dastat.stats.resampling import data_rng, fixed_effect_draws, joint_layout
from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, numeric, paired_values, require_columns
from dastat.stats.verdicts import critical_value

# Below these, a cluster-robust standard error or a between-pair variance is not estimable: not reported.
MIN_CLUSTERS = 10
MIN_RANDOM_EFFECTS_PAIRS = 5

COLUMNS = ("model", "term", "estimate", "se", "ci_low", "ci_high", "p_value", "n", "n_groups",
           "tau2", "i2", "q", "converged", "confidence", "reason")


def _points(df: pd.DataFrame, x: str, y: str, by: tuple[str, ...], standardize: bool) -> pd.DataFrame:
    """Finite (pair, x, y) rows; with ``standardize``, x and y z-scored within each pair."""
    xv, yv, _ = paired_values(df, x, y)
    keep = np.isfinite(numeric(df, x)) & np.isfinite(numeric(df, y))
    labels = df.loc[keep, list(by)].astype(str).agg(" / ".join, axis=1).to_numpy()
    points = pd.DataFrame({"pair": labels, "x": xv, "y": yv})
    if standardize:
        grouped = points.groupby("pair")
        for col in ("x", "y"):
            points[col] = (points[col] - grouped[col].transform("mean")) / grouped[col].transform("std")
        points = points[np.isfinite(points["x"]) & np.isfinite(points["y"])]
    return points


def _row(model: str, term: str, **values) -> dict:
    base = dict.fromkeys(COLUMNS, math.nan)
    base.update(model=model, term=term, converged=True, reason="")
    base.update(values)
    return base


def _fixed_effects(points: pd.DataFrame, confidence: float) -> list[dict]:
    import statsmodels.formula.api as smf

    n_groups = points["pair"].nunique()
    formula = "y ~ x + C(pair)" if n_groups > 1 else "y ~ x"
    # Cluster-robust by pair, with t on G - 1 degrees of freedom (use_t): few clusters make the
    # normal reference far too optimistic, and below MIN_CLUSTERS no standard error is reported.
    if n_groups >= 2:
        clusters = points["pair"].astype("category").cat.codes
        fit = smf.ols(formula, data=points).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    else:  # one cluster has no between-cluster variance to use: heteroskedasticity-robust instead
        fit = smf.ols(formula, data=points).fit(cov_type="HC1", use_t=True)
    row = _row("ols_fixed_effects", "slope", estimate=float(fit.params["x"]), n=len(points), n_groups=n_groups)
    if n_groups < MIN_CLUSTERS:
        return [{**row, "reason": f"only {n_groups} cluster(s), fewer than {MIN_CLUSTERS}: cluster-robust "
                 "standard errors are not estimable, so no interval or p-value"}]
    low, high = fit.conf_int(alpha=1 - confidence).loc["x"]
    return [{**row, "se": float(fit.bse["x"]), "ci_low": float(low), "ci_high": float(high),
             "p_value": float(fit.pvalues["x"])}]


def _mixed(points: pd.DataFrame, confidence: float, *, random_slope: bool) -> list[dict]:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    model = "mixed_slope" if random_slope else "mixed_intercept"
    n_groups = points["pair"].nunique()
    # Fit on unit-scale x and y (T. stddev is ~1e-3): the optimiser behaves; results scale back exactly.
    sx, sy = float(points["x"].std()), float(points["y"].std())
    scaled = pd.DataFrame({"pair": points["pair"], "x": points["x"] / sx, "y": points["y"] / sy})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm("y ~ x", scaled, groups=scaled["pair"],
                              re_formula="~x" if random_slope else None).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as err:
            return [_row(model, "slope", n=len(points), n_groups=n_groups, converged=False,
                         reason=f"the fit failed: {err}")]
    problems = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning | RuntimeWarning)]
    converged = bool(getattr(fit, "converged", True)) and not problems
    reason = "; ".join(dict.fromkeys(problems))
    slope, se = float(fit.fe_params["x"]) * sy / sx, float(fit.bse_fe["x"]) * sy / sx
    if converged:
        crit = critical_value(confidence)
        z = slope / se if se > 0 else math.nan
        rows = [_row(model, "slope", estimate=slope, se=se, ci_low=slope - crit * se, ci_high=slope + crit * se,
                     p_value=float(2 * ndtr(-abs(z))), n=len(points), n_groups=n_groups)]
    else:  # a fit that did not converge has no standard error to read
        reason = "did not converge, so no interval or p-value: " + reason.split("; ")[0]
        rows = [_row(model, "slope", estimate=slope, n=len(points), n_groups=n_groups, converged=False,
                     reason=reason)]
    cov_re = np.asarray(fit.cov_re)
    rows.append(_row(model, "group_var", estimate=float(cov_re[0, 0]) * sy**2, n=len(points),
                     n_groups=n_groups, converged=converged, reason=reason))
    if random_slope:
        rows.append(_row(model, "slope_var", estimate=float(cov_re[1, 1]) * (sy / sx) ** 2, n=len(points),
                         n_groups=n_groups, converged=converged, reason=reason))
    return rows


def random_effects(estimates: np.ndarray, variances: np.ndarray, confidence: float = 0.95) -> dict:
    """DerSimonian–Laird random-effects pooling of k estimates with known sampling variances.

    Returns
    -------
    dict
        ``estimate`` (pooled), ``se``, ``ci_low``, ``ci_high`` (normal), ``p_value`` (z test of 0),
        ``tau2`` (between-estimate variance), ``i2`` (share of the spread beyond sampling error,
        Higgins & Thompson 2002), ``q`` (Cochran's Q).
    """
    est, v = np.asarray(estimates, float), np.asarray(variances, float)
    w = 1.0 / v
    fixed = (w * est).sum() / w.sum()
    q = float((w * (est - fixed) ** 2).sum())
    df = len(est) - 1
    c = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (q - df) / c) if df > 0 else 0.0
    w_re = 1.0 / (v + tau2)
    pooled_est = float((w_re * est).sum() / w_re.sum())
    se = float(math.sqrt(1.0 / w_re.sum()))
    half = critical_value(confidence) * se
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return dict(estimate=pooled_est, se=se, ci_low=pooled_est - half, ci_high=pooled_est + half,
                p_value=float(2 * ndtr(-abs(pooled_est / se))), tau2=tau2, i2=i2, q=q)


def meta_analysis(r: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> dict:
    """DerSimonian–Laird random-effects pooling of correlations on Fisher's z scale.

    Parameters
    ----------
    r, n : arrays [k]
        Per-pair correlations (|r| < 1) and their numbers of points (n > 3); z = atanh r has
        variance 1 / (n - 3).

    Returns
    -------
    dict
        As :func:`random_effects`, with ``estimate``, ``ci_low`` and ``ci_high`` turned back into
        correlations (tanh); ``se`` and ``tau2`` stay on the z scale.
    """
    result = random_effects(np.arctanh(r), 1.0 / (np.asarray(n, float) - 3.0), confidence)
    for key in ("estimate", "ci_low", "ci_high"):
        result[key] = math.tanh(result[key])
    return result


def _meta(points: pd.DataFrame, method: str, confidence: float) -> list[dict]:
    model = f"meta_fisher_z_{method}"
    rs, ns, skipped = [], [], []
    for pair, rows in points.groupby("pair", sort=False):
        r = float(coefficient(method, rows["x"].to_numpy(), rows["y"].to_numpy())[0])
        if len(rows) <= 3 or not math.isfinite(r) or abs(r) >= 1:
            skipped.append(f"{pair} (n = {len(rows)}, r = {r:.4g})")
            continue
        rs.append(r)
        ns.append(len(rows))
    reason = ("left out, Fisher z undefined: " + "; ".join(skipped)) if skipped else ""
    if not rs:
        return [_row(model, "r", n=len(points), n_groups=0, converged=False, reason=reason or "no pairs")]
    if len(rs) < MIN_RANDOM_EFFECTS_PAIRS:
        return [_row(model, "r", n=int(sum(ns)), n_groups=len(rs), converged=False,
                     reason=f"{len(rs)} pairs, fewer than {MIN_RANDOM_EFFECTS_PAIRS}: too few to estimate the "
                     "between-pair variance, so no random-effects pool (the joint bootstrap gives a fixed-effect "
                     "summary of these pairs)")]
    ns_eff = np.asarray(ns, float)
    if method == "spearman":
        # Spearman's z has variance ~1.06/(n-3) (Fieller, Hartley & Pearson 1957): scale n accordingly.
        ns_eff = 3 + (ns_eff - 3) / 1.06
    result = meta_analysis(np.asarray(rs), ns_eff, confidence)
    return [_row(model, "r", **result, n=int(sum(ns)), n_groups=len(rs), reason=reason)]


def _joint_fixed_effect(df: pd.DataFrame, x: str, y: str, by: tuple[str, ...], scheme: str, method: str,
                        confidence: float, n_resamples: int, seed: int) -> list[dict]:
    """The pairs' correlations averaged (weights: n), schemes resampled jointly across pairs."""
    model = f"fixed_effect_joint_bootstrap_{method}"
    xs, ys, units = [], [], []
    for _, rows in groups(df, by):
        xv, yv = numeric(rows, x).to_numpy(float), numeric(rows, y).to_numpy(float)
        keep = np.isfinite(xv) & np.isfinite(yv)
        names = (rows[scheme].astype(str).to_numpy() if scheme in rows.columns
                 else np.array([f"row{i}" for i in range(len(rows))]))[keep]
        order = np.argsort(names, kind="stable")
        xs.append(xv[keep][order])
        ys.append(yv[keep][order])
        units.append(names[order])
    ns = np.array([len(v) for v in xs], float)
    rs = np.array([float(coefficient(method, a, b)[0]) if len(a) >= MIN_POINTS else math.nan for a, b in zip(xs, ys)])
    if not np.isfinite(rs).all():
        return [_row(model, "r", n=int(ns.sum()), n_groups=len(xs), reason="a pair has no coefficient")]
    union, index = joint_layout(units)
    shared = len(set.intersection(*(set(u) for u in units)))
    row = _row(model, "r", estimate=float(ns @ rs / ns.sum()), n=int(ns.sum()), n_groups=len(xs),
               reason=f"fixed-effect summary of these {len(xs)} pairs (they share {shared} of {len(union)} "
               "schemes, resampled jointly)")
    if n_resamples:
        rng = data_rng(seed, f"pooled:{method}", *zip(xs, ys))
        draws = fixed_effect_draws(method, [[(a, b)] for a, b in zip(xs, ys)], index, len(union), ns, rng,
                                   n_resamples)[:, 0]
        finite = draws[np.isfinite(draws)]
        if finite.size:
            low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
            tail = min((finite < 0).sum() + (finite <= 0).sum(), (finite > 0).sum() + (finite >= 0).sum()) / 2
            row.update(ci_low=float(low), ci_high=float(high),
                       p_value=float(min(1.0, 2 * (tail + 1) / (finite.size + 1))))
    return [row]


def pooled(
    df: pd.DataFrame,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    *,
    confidence: float = 0.95,
    standardize: bool = False,
    meta_method: str = "pearson",
    scheme: str = "scheme",
    n_resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """Pooled evidence across teacher/student pairs, as one tidy table.

    Three views of "higher T. stddev, higher student loss" over all pairs at once:

    - ``ols_fixed_effects``: OLS of ``y`` on ``x`` with one intercept per pair (fixed effects) and
      standard errors clustered by pair (t with G - 1 degrees of freedom).
    - ``mixed_intercept`` / ``mixed_slope``: a linear mixed model (statsmodels MixedLM, REML) with a
      random intercept per pair, and also a random slope when there are at least 3 pairs of at
      least 3 points each. Rows ``group_var`` / ``slope_var`` give the random-effect variances.
    - ``fixed_effect_joint_bootstrap_<method>``: the per-pair correlations averaged with weights n,
      a fixed-effect summary of these pairs; its percentile interval and p-value come from a
      bootstrap that resamples the schemes (``scheme``) jointly across pairs, so a scheme that
      several pairs share counts once, not once per pair.
    - ``meta_fisher_z_<method>``: DerSimonian–Laird random-effects meta-analysis of the per-pair
      correlations on Fisher's z scale: pooled r, its interval, ``tau2``, ``i2`` and Cochran's ``q``;
      only with at least :data:`MIN_RANDOM_EFFECTS_PAIRS` pairs (fewer cannot estimate tau²).

    A model that did not converge, or cluster-robust errors with fewer than :data:`MIN_CLUSTERS`
    clusters, give the estimate with no interval or p-value and say so in ``reason``.

    Parameters
    ----------
    df : DataFrame
        As for :func:`dastat.stats.correlate`: one row per scheme and pair.
    x, y, by : str, str, sequence of str
        Predictor, response and the keys that make a pair.
    confidence : float in (0, 1)
    standardize : bool
        Z-score x and y within each pair first, so that slopes are comparable across pairs whose
        T. stddev scales differ (e.g. CIFAR-100 vs Tiny ImageNet); the slope is then a within-pair
        correlation-like number.
    meta_method : {"pearson", "spearman"}
        Which per-pair correlation the meta-analysis and the joint bootstrap pool.
    scheme : str
        The column naming each row's scheme: the unit the joint bootstrap resamples (each row its
        own unit where the column is missing).
    n_resamples : int >= 0
        Joint bootstrap resamples (0: no interval).
    seed : int >= 0
        Seeds the joint bootstrap together with the data it resamples.

    Returns
    -------
    DataFrame
        Columns ``model, term, estimate, se, ci_low, ci_high, p_value, n, n_groups, tau2, i2, q,
        converged, confidence, reason``; a model that cannot be fitted gives a row with NaN estimates
        and a ``reason``.
    """
    df = check_frame(df)
    by = check_by(by, df)
    confidence = check_fraction(confidence, "confidence")
    meta_method = check_choice(meta_method, "meta_method", ("pearson", "spearman"))
    n_resamples = check_int(n_resamples, "n_resamples", low=0)
    seed = check_int(seed, "seed", low=0)
    require_columns(df, [*by, x, y])
    if not by:  # one pool of points: a single "pair"
        df, by = df.assign(_pool="all"), ("_pool",)
    points = _points(df, x, y, by, standardize)
    if len(points) < MIN_POINTS:
        raise InvalidArgumentError(f"pooled needs at least {MIN_POINTS} rows with finite {x!r} and {y!r}; "
                                   f"got {len(points)}")
    sizes = points.groupby("pair").size()
    rows = _fixed_effects(points, confidence)
    rows += _mixed(points, confidence, random_slope=False)
    if len(sizes) >= 3 and sizes.min() >= 3:
        rows += _mixed(points, confidence, random_slope=True)
    rows += _joint_fixed_effect(df, x, y, by, scheme, meta_method, confidence, n_resamples, seed)
    rows += _meta(points, meta_method, confidence)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["confidence"] = confidence
    return table
