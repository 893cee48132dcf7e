"""How well a teacher statistic orders the students' test losses: correlations per panel."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from dastat.checks import check_choice, check_fraction, check_int
from dastat.errors import InvalidArgumentError
from dastat.stats import intervals
from dastat.stats.coefficients import METHODS
from dastat.stats.permutation import permutation_test
from dastat.stats.resampling import canonical_order, data_rng
from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, paired_values, require_columns

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
MIN_POINTS = 3


@dataclass(frozen=True)
class Correlation:
    """One coefficient of one group: estimate, interval, p-values and what was asked."""

    x: str
    y: str
    method: str  # "pearson" | "spearman" | "kendall"
    n: int
    n_dropped: int  # rows dropped for a missing x or y
    r: float
    ci_low: float
    ci_high: float
    ci_method: str  # "fisher_z" | "bca" | "percentile" | "none"
    p_value: float  # scipy's default test (exact Kendall without ties)
    p_perm: float  # permutation test: exact (n <= 9) or Monte Carlo
    perm_method: str  # "exact" | "monte_carlo" | "none"
    alternative: str
    confidence: float
    n_resamples: int
    seed: int
    reason: str  # why r or an interval is missing or a fallback was used; "" otherwise

    def to_dict(self) -> dict:
        """Plain Python values, ready for ``json.dumps``."""
        return asdict(self)

    def printed(self) -> str:
        """The paper's panel-title text, e.g. ``0.9581 (p-value: 0.00%)``."""
        return format_printed(self.r, self.p_value)


def format_printed(r: float, p_value: float) -> str:
    """``r`` to 4 decimals and ``p_value`` as a percentage to 2, as Figure 4 of the paper prints them."""
    if not math.isfinite(r):
        return "n/a"
    return f"{r:.4f} (p-value: {100 * p_value:.2f}%)"


def _scipy_test(method: str, x: np.ndarray, y: np.ndarray, alternative: str) -> tuple[float, float]:
    # scipy's defaults are what the paper printed: t-based Pearson and Spearman, and Kendall's
    # tau-b with its exact null distribution when there are no ties (method="auto").
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "pearson":
            res = sps.pearsonr(x, y, alternative=alternative)
        elif method == "spearman":
            res = sps.spearmanr(x, y, alternative=alternative)
        else:
            res = sps.kendalltau(x, y, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def correlation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "pearson",
    x_name: str = "x",
    y_name: str = "y",
    n_dropped: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
    alternative: str = "two-sided",
) -> Correlation:
    """One correlation coefficient of finite paired samples, with its interval and p-values.

    Parameters are as in :func:`correlate`. The bootstrap and the Monte Carlo permutations draw from
    a stream seeded by ``seed``, the method and the points themselves (in a canonical order), so the
    same points give the same interval wherever they appear. Too few points or a constant x or y give
    r = NaN and a ``reason``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    order = canonical_order(x, y)
    x, y = x[order], y[order]
    n = len(x)
    rng = data_rng(seed, f"correlation:{method}:{alternative}", x, y)
    common = dict(x=x_name, y=y_name, method=method, n=n, n_dropped=n_dropped, alternative=alternative,
                  confidence=confidence, n_resamples=n_resamples, seed=seed)
    reason = ""
    if n < MIN_POINTS:
        reason = f"fewer than {MIN_POINTS} points (n = {n})"
    elif np.ptp(x) == 0:
        reason = f"{x_name} is constant ({x[0]!r}): the correlation is undefined"
    elif np.ptp(y) == 0:
        reason = f"{y_name} is constant ({y[0]!r}): the correlation is undefined"
    if reason:
        nan = math.nan
        return Correlation(**common, r=nan, ci_low=nan, ci_high=nan, ci_method="none", p_value=nan,
                           p_perm=nan, perm_method="none", reason=reason)

    r, p_value = _scipy_test(method, x, y, alternative)
    notes = []
    if method == "pearson":
        interval = intervals.fisher_z(r, n, confidence)
    elif n_resamples > 0:
        boot = intervals.bootstrap_distribution(method, x, y, n_resamples=n_resamples, rng=rng)
        interval = intervals.bca(r, boot, intervals.jackknife(method, x, y), confidence)
    else:
        interval = intervals.CoefficientInterval(math.nan, math.nan, "none", "n_resamples = 0: no bootstrap interval")
    if interval.note:
        notes.append(interval.note)
    if n_resamples > 0:
        perm = permutation_test(method, x, y, alternative=alternative, n_resamples=n_resamples, rng=rng)
        p_perm, perm_method = perm.p_value, perm.method
    else:
        p_perm, perm_method = math.nan, "none"
    return Correlation(**common, r=r, ci_low=interval.low, ci_high=interval.high, ci_method=interval.method,
                       p_value=p_value, p_perm=p_perm, perm_method=perm_method, reason="; ".join(notes))


def check_methods(methods: str | Iterable[str]) -> tuple[str, ...]:
    """Method names as a tuple, each one of pearson, spearman, kendall."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = tuple(methods)
    if not methods:
        raise InvalidArgumentError(f"methods must name at least one of {', '.join(METHODS)}; got none")
    for m in methods:
        check_choice(m, "methods", METHODS)
    return methods


def correlate(
    df: pd.DataFrame,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    methods: str | Iterable[str] = METHODS,
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """Correlation of ``x`` with ``y`` in each group (a Figure-4 panel), one row per group and method.

    Parameters
    ----------
    df : DataFrame
        One row per scheme and group, e.g. ``dastat.store.open().table()`` or the bundled
        ``dastat.stats.load_reference("paper")``. Needs the columns ``x``, ``y`` and ``by``.
    x, y : str
        The columns to correlate (default T. stddev against the student's test loss).
    by : str or sequence of str or None
        Group keys; one panel per distinct combination (default dataset, teacher, student).
    methods : sequence of {"pearson", "spearman", "kendall"}
    confidence : float in (0, 1)
        Level of the intervals.
    n_resamples : int >= 0
        Bootstrap resamples for the Spearman/Kendall intervals, and random pairings for the Monte Carlo
        permutation test (n > 9). 0 skips both: their columns are NaN (r and p_value remain).
    seed : int >= 0
        Seeds the bootstrap and the permutations together with the points resampled: the same points
        give the same interval in any table, and adding a group changes no other group's numbers.
    alternative : {"two-sided", "greater", "less"}
        "greater" tests for a positive correlation (a lower T. stddev goes with a lower loss).

    Returns
    -------
    DataFrame
        Columns: the ``by`` keys, ``x``, ``y``, ``method``, ``n``, ``n_dropped`` (rows without a finite
        x or y, dropped), ``r``, ``ci_low``, ``ci_high``, ``ci_method`` (``fisher_z`` for Pearson; ``bca``
        for Spearman and Kendall, or ``percentile`` where BCa is undefined, e.g. r = ±1), ``p_value``
        (scipy's defaults: the t test for Pearson and Spearman, Kendall's exact test when there are no
        ties), ``p_perm`` and ``perm_method`` (exact over all n! pairings when n <= 9, Monte Carlo
        beyond), ``alternative``, ``confidence``, ``n_resamples``, ``seed`` and ``reason`` (why r is NaN,
        e.g. fewer than 3 points or a constant column, or why an interval fell back; "" otherwise).

    Raises
    ------
    InvalidArgumentError
        A column is missing or holds text, or an argument is out of range.

    Notes
    -----
    BCa intervals are second-order accurate for large n, but at n ≈ 9, the size of the paper's
    panels, their coverage is not guaranteed (a bootstrap over 9 points sees few distinct values,
    and BCa is known to under-cover at such sizes in general); read them as indicative. In dastat's
    own simulation (bivariate normal, rho = 0.5, 400 repetitions) 95% intervals at n = 9 covered
    0.945 (Spearman) and 0.963 (Kendall); at n = 30 (1,000 repetitions) 0.954 and 0.961.

    Examples
    --------
    >>> table = correlate(load_reference("paper"))
    >>> table.loc[0, ["method", "r", "p_value"]].tolist()
    ['pearson', 0.958..., 4.75...e-05]
    """
    df = check_frame(df)
    by = check_by(by, df)
    methods = check_methods(methods)
    confidence = check_fraction(confidence, "confidence")
    n_resamples = check_int(n_resamples, "n_resamples", low=0)
    seed = check_int(seed, "seed", low=0)
    alternative = check_choice(alternative, "alternative", ALTERNATIVES)
    require_columns(df, [*by, x, y])

    rows = []
    for keys, group in groups(df, by):
        xv, yv, n_dropped = paired_values(group, x, y)
        for method in methods:
            result = correlation(
                xv, yv, method=method, x_name=x, y_name=y, n_dropped=n_dropped, confidence=confidence,
                n_resamples=n_resamples, seed=seed, alternative=alternative,
            )
            if result.n < MIN_POINTS and keys:
                result_dict = result.to_dict()
                result_dict["reason"] += " in group " + ", ".join(f"{k}={v}" for k, v in keys.items())
                rows.append({**keys, **result_dict})
            else:
                rows.append({**keys, **result.to_dict()})
    columns = [*by, *Correlation.__dataclass_fields__]
    return pd.DataFrame(rows, columns=columns)
