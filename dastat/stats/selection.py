"""Does the ranking pick the right scheme? Lowest T. stddev against lowest student loss, per pair."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from dastat.checks import check_fraction
from dastat.stats import verdicts
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


@dataclass(frozen=True)
class Selection:
    """Per-pair choices and the summary across pairs.

    ``pairs`` has one row per pair: the ``by`` keys, ``n`` (schemes with a y), ``n_candidates``
    (those with an x too, among which the pick is made), ``chosen`` (lowest x),
    ``chosen_tied`` (other schemes sharing that lowest x, ";"-joined), ``best`` (lowest y),
    ``chosen_loss``, ``best_loss``, ``regret`` (chosen_loss - best_loss >= 0), ``chosen_rank``
    (1 = best; ties share the lower rank), ``picks_best``, ``best_noise`` (the best scheme's
    y error, NaN without one), ``n_seeds``, ``regret_se`` and ``regret_p_value`` (the paired
    standard error of the regret over the seeds both schemes were trained with, and the paired
    t-test's p-value; NaN without per-seed runs), ``noise_rule`` and ``within_noise``.

    ``within_noise`` is True when the pick is the best; otherwise, with per-seed runs
    (``noise_rule = "paired_se"``), when regret <= z regret_se (z the two-sided normal quantile of
    ``confidence``, 1.96 at 0.95), and without them
    (``"best_error"``), when regret <= best_noise; NaN when neither can be judged.
    """

    pairs: pd.DataFrame
    n_pairs: int
    frac_best: float
    frac_within_noise: float  # NaN when no pair has a y error
    mean_regret: float
    max_regret: float
    summary_columns: tuple[str, ...] = field(default=("n_pairs", "frac_best", "frac_within_noise",
                                                      "mean_regret", "max_regret"), repr=False)

    def to_dict(self) -> dict:
        """The summary and the per-pair rows as plain Python values."""
        out = {k: getattr(self, k) for k in self.summary_columns}
        out["pairs"] = self.pairs.to_dict(orient="records")
        return out


def selection(
    df: pd.DataFrame,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    *,
    scheme: str = "scheme",
    y_err: str | None = "s_test_loss_err",
    runs: pd.DataFrame | None = None,
    run_y: str = "test_loss",
    seed: str = "seed",
    confidence: float = 0.95,
) -> Selection:
    """For each pair, the scheme T. stddev would pick against the one with the lowest student loss.

    Parameters
    ----------
    df : DataFrame
        One row per scheme and pair (``store.table()`` or the reference CSV).
    x, y, by, scheme : str
        T. stddev, student loss, pair keys and scheme columns.
    y_err : str or None
        Column with the seed noise of ``y`` (e.g. the stddev over seeds). Used only without
        ``runs``: a pick then counts as "within noise" when its regret is at most that value.
    runs : DataFrame, optional
        One row per student run (``store.students()``) with the ``by`` keys, ``scheme``, ``seed``
        and ``run_y``. The same seeds train every scheme, so the regret is judged by its paired
        standard error over the seeds the chosen and the best scheme share: within noise when
        at most z of them, z from ``confidence`` (a paired comparison; at 3 seeds the t-test's
        p-value, reported beside it, is the stricter reading).
    confidence : float in (0, 1)
        The level of "within noise" (default 0.95).

    Returns
    -------
    Selection
        ``.pairs`` (one row per pair) and the fractions across pairs; see :class:`Selection`.
        When several schemes share the lowest x, the first in table order is taken as the pick and
        the others are listed in ``chosen_tied``: the loss is not used to break the tie.
    """
    df = check_frame(df)
    by = check_by(by, df)
    confidence = check_fraction(confidence, "confidence")
    require_columns(df, [*by, scheme, x, y])
    use_err = has_values(df, y_err)
    if runs is not None:
        runs = with_kd_method(check_frame(runs, "runs"))
        require_columns(runs, [*by, scheme, seed, run_y])
    rows = []
    for keys, group in groups(df, by):
        row = _pair_row(group, x, y, scheme, y_err if use_err else None, confidence,
                        runs=runs, keys=keys, seed=seed, run_y=run_y)
        if row is not None:
            rows.append({**keys, **row})
    columns = [*by, "n", "n_candidates", "chosen", "chosen_tied", "best", "chosen_loss", "best_loss", "regret",
               "chosen_rank", "picks_best", "best_noise", "n_seeds", "regret_se", "regret_p_value", "noise_rule",
               "within_noise"]
    pairs = pd.DataFrame(rows, columns=columns)
    noisy = pairs["within_noise"].dropna()
    return Selection(
        pairs=pairs,
        n_pairs=len(pairs),
        frac_best=float(pairs["picks_best"].mean()) if len(pairs) else math.nan,
        frac_within_noise=float(noisy.astype(bool).mean()) if len(noisy) else math.nan,
        mean_regret=float(pairs["regret"].mean()) if len(pairs) else math.nan,
        max_regret=float(pairs["regret"].max()) if len(pairs) else math.nan,
    )


def _pair_row(group: pd.DataFrame, x: str, y: str, scheme: str, y_err: str | None, confidence: float, *,
              runs: pd.DataFrame | None, keys: dict, seed: str, run_y: str) -> dict | None:
    """One pair's pick (lowest x among the schemes with an x) against the best of all its schemes."""
    xv, yv = numeric(group, x).to_numpy(), numeric(group, y).to_numpy()
    has_y = np.isfinite(yv)
    names = group[scheme].astype(str).to_numpy()[has_y]
    err = numeric(group, y_err).to_numpy()[has_y] if y_err else np.full(has_y.sum(), np.nan)
    xv, yv = xv[has_y], yv[has_y]
    candidates = np.flatnonzero(np.isfinite(xv))
    if len(candidates) == 0:
        return None
    # The pick is among the schemes the predictor has a value for; the best is over every scheme
    # with a loss, so a predictor defined on few schemes is not judged against its own subset.
    pick, best = int(candidates[np.argmin(xv[candidates])]), int(np.argmin(yv))
    tied = [names[i] for i in candidates if xv[i] == xv[pick] and i != pick]
    regret = float(yv[pick] - yv[best])
    noise = float(err[best])
    n_seeds, se, p_value = (_paired(runs, keys, scheme, seed, run_y, names[pick], names[best])
                            if runs is not None else (0, math.nan, math.nan))
    if runs is not None:
        rule, within = "paired_se", verdicts.within_noise(regret, se, confidence)
    else:
        rule, within = "best_error", (regret <= noise if math.isfinite(noise) else math.nan)
    return {"n": len(yv), "n_candidates": len(candidates), "chosen": names[pick], "chosen_tied": ";".join(tied),
            "best": names[best], "chosen_loss": float(yv[pick]), "best_loss": float(yv[best]),
            "regret": regret, "chosen_rank": int((yv < yv[pick]).sum()) + 1,
            "picks_best": bool(yv[pick] == yv[best]), "best_noise": noise, "n_seeds": n_seeds,
            "regret_se": se, "regret_p_value": p_value, "noise_rule": rule,
            # Picking the best is always "within noise".
            "within_noise": True if regret == 0 else within}


def _paired(runs: pd.DataFrame, keys: dict, scheme: str, seed: str, y: str, chosen: str,
            best: str) -> tuple[int, float, float]:
    """Seeds shared by the chosen and the best scheme, the paired SE of their loss difference, its t-test p."""
    mask = np.ones(len(runs), dtype=bool)
    for k, v in keys.items():
        mask &= (runs[k] == v).to_numpy()
    group = runs[mask]
    per_seed = {name: group[group[scheme].astype(str) == name].groupby(seed)[y].mean() for name in (chosen, best)}
    diff = (per_seed[chosen] - per_seed[best]).dropna()
    n = len(diff)
    if n < 2:
        return n, math.nan, math.nan
    se = float(diff.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        return n, 0.0, (1.0 if float(diff.mean()) == 0 else 0.0)
    return n, se, float(stats.ttest_1samp(diff.to_numpy(), 0.0).pvalue)
