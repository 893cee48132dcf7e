"""Small multiples of the head-to-head: student loss against each predictor, one row per pair."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dastat.errors import InvalidArgumentError
from dastat.plot.fig4 import AXIS_NAMES, POINTS_GID, ols_band, rows_of_panel, scheme_legend
from dastat.plot.labels import scheme_colours, scheme_order
from dastat.plot.saving import NotebookFigure
from dastat.stats.predictors import PredictorComparison, compare_predictors
from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, numeric

PREDICTOR_NAMES = {"t_stddev": "T. stddev", "t_stddev_rel": "T. stddev / floor", "t_ce_stddev": "T. CE stddev",
                   "mean_entropy_xprime": "T. entropy on x'", "teacher_acc_xprime": "T. accuracy on x'",
                   "floor": "floor", "entropy_xprime": "T. entropy on x'", "affinity": "affinity",
                   "ce_xprime": "T. CE on x' (its label)", "consistency": "KL(x ‖ x')",
                   "sharpness": "floor × T. label mass"}


def _pair_label(keys: dict) -> str:
    if {"teacher", "student"} <= keys.keys():
        return f"{keys['teacher']} → {keys['student']}"
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def predictor_grid(
    table: pd.DataFrame,
    predictors: str | Iterable[str] = "all",
    *,
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    scheme: str = "scheme",
    comparison: PredictorComparison | None = None,
    method: str = "pearson",
    panel_size: tuple[float, float] = (2.6, 2.4),
    confidence: float = 0.95,
) -> Figure:
    """Student loss against every predictor: one row of panels per pair, one column per predictor.

    Parameters
    ----------
    table : DataFrame
        As for :func:`dastat.stats.compare_predictors` (e.g. ``store.table()``).
    predictors, y, by, scheme
        As there; ``predictors="all"`` takes every known predictor the table holds.
    comparison : PredictorComparison, optional
        The output of ``compare_predictors`` for ``table``; computed here (without resampling)
        by default. Each panel's title prints the ``method`` correlation with its interval, of
        the oriented predictor (r > 0: lower value, lower loss); the x axis shows the raw values.
    method : {"pearson", "spearman", "kendall"}
    panel_size : (width, height) in inches
    confidence : float
        Level of the band around the OLS line.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; save it with :func:`dastat.plot.save_figure`.
    """
    table = check_frame(table, "table")
    by = check_by(by, table)
    if table.empty:
        raise InvalidArgumentError("table has no rows to plot; check the source or the filters")
    if comparison is None:
        comparison = compare_predictors(table, predictors, y=y, by=by, methods=(method,),
                                        confidence=confidence, n_resamples=0, n_power_sims=0)
    corr = comparison.correlations
    corr = corr[(corr["level"] == "pair") & (corr["method"] == method)]
    if corr.empty:
        raise InvalidArgumentError(f"comparison has no per-pair {method!r} correlations; pass method= one of "
                                   f"{sorted(set(comparison.correlations['method']))}")
    names = list(dict.fromkeys(corr["predictor"]))
    pairs = list(groups(table, by))
    fig = NotebookFigure(figsize=(panel_size[0] * len(names), panel_size[1] * len(pairs) + 0.6),
                         layout="constrained")
    axes = fig.subplots(len(pairs), len(names), squeeze=False)
    colours = scheme_colours(table[scheme])
    for i, (keys, rows) in enumerate(pairs):
        stats = rows_of_panel(corr, keys).set_index("predictor")
        yv = numeric(rows, y).to_numpy()
        labels = rows[scheme].astype(str).to_numpy()
        for j, name in enumerate(names):
            ax = axes[i, j]
            xv = numeric(rows, name).to_numpy()
            finite = np.isfinite(xv) & np.isfinite(yv)
            ols_band(ax, xv[finite], yv[finite], confidence)
            for s in scheme_order(labels[finite]):
                mask = finite & (labels == s)
                ax.scatter(xv[mask], yv[mask], color=colours[s], s=22, edgecolor="white", linewidth=0.4,
                           zorder=3, gid=POINTS_GID)
            row = stats.loc[name] if name in stats.index else None
            if row is not None and np.isfinite(row["r"]):
                title = f"r = {row['r']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
            else:
                title = "r undefined"
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=6.5)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
            ax.grid(True, lw=0.4, alpha=0.5)
            if i == len(pairs) - 1:
                negated = row is not None and row["sign"] == -1
                ax.set_xlabel(PREDICTOR_NAMES.get(name, name) + (" (r of its negative)" if negated else ""),
                              fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{_pair_label(keys)}\n{AXIS_NAMES.get(y, y)}", fontsize=8)
    scheme_legend(fig, table[scheme], colours, 8)
    return fig
