"""The Figure-4 grid: student test loss against T. stddev, one panel per teacher/student pair."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dastat.errors import InvalidArgumentError
from dastat.plot.labels import scheme_colours, scheme_label, scheme_order
from dastat.plot.saving import NotebookFigure
from dastat.stats.correlation import correlate, format_printed
from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, has_values, numeric, require_columns

POINTS_GID = "dastat-points"  # tags the scatter markers, so tests and users can find them
METHOD_NAMES = {"pearson": "Pearson", "spearman": "Spearman", "kendall": "Kendall"}
AXIS_NAMES = {"t_stddev": "T. stddev", "s_test_loss": "S. test loss"}


def _panel_order(df: pd.DataFrame, by: tuple[str, ...]) -> list[tuple[dict, pd.DataFrame]]:
    panels = list(groups(df, by))
    if not by:
        return panels
    # Row by the first key (dataset), then pairs in order of appearance: the paper's 2 x 4 layout.
    first = {v: i for i, v in enumerate(dict.fromkeys(df[by[0]].astype(str)))}
    rest = {}
    for keys, _ in panels:
        rest.setdefault(tuple(str(keys[k]) for k in by[1:]), len(rest))
    return sorted(panels, key=lambda p: (first[str(p[0][by[0]])], rest[tuple(str(p[0][k]) for k in by[1:])]))


def _panel_title(keys: dict, stats: pd.DataFrame | None, methods: Iterable[str]) -> str:
    if {"dataset", "teacher", "student"} <= keys.keys():
        head = f"{keys['dataset']}: {keys['teacher']} → {keys['student']}"
        others = [f"{k}={v}" for k, v in keys.items() if k not in ("dataset", "teacher", "student")]
        head = ", ".join([head, *others])
    else:
        head = ", ".join(f"{k}={v}" for k, v in keys.items())
    lines = [head] if head else []
    for method in methods:
        row = None if stats is None else stats[stats["method"] == method]
        if row is None or row.empty:
            continue
        r, p = float(row["r"].iloc[0]), float(row["p_value"].iloc[0])
        lines.append(f"{METHOD_NAMES.get(method, method)}: {format_printed(r, p)}")
    return "\n".join(lines)


def rows_of_panel(frame: pd.DataFrame, keys: dict) -> pd.DataFrame:
    """The rows of ``frame`` (e.g. correlations) that belong to the panel of ``keys``."""
    match = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        if k in frame.columns:
            match &= frame[k].astype(str).to_numpy() == str(v)
    return frame[match]


def scheme_legend(fig: Figure, schemes: pd.Series, colours: dict, fontsize: float) -> None:
    """One marker per scheme, in the schemes' order, below the panels."""
    handles = [Line2D([], [], marker="o", ls="", color=colours[s], label=scheme_label(s))
               for s in scheme_order(schemes.astype(str))]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=fontsize,
               frameon=False)


def ols_band(ax, xv: np.ndarray, yv: np.ndarray, confidence: float) -> None:
    """OLS line of y on x with the pointwise confidence band of the fitted mean."""
    import statsmodels.api as sm

    if len(xv) < 3 or np.ptp(xv) == 0:
        return
    fit = sm.OLS(yv, sm.add_constant(xv)).fit()
    pad = 0.05 * np.ptp(xv)
    grid = np.linspace(xv.min() - pad, xv.max() + pad, 100)
    pred = fit.get_prediction(sm.add_constant(grid)).summary_frame(alpha=1 - confidence)
    ax.plot(grid, pred["mean"], color="0.25", lw=1.2, zorder=1)
    ax.fill_between(grid, pred["mean_ci_lower"], pred["mean_ci_upper"], color="0.6", alpha=0.25, lw=0, zorder=0)


def fig4(
    df: pd.DataFrame,
    *,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    scheme: str = "scheme",
    correlations: pd.DataFrame | None = None,
    methods: Iterable[str] = ("pearson", "spearman", "kendall"),
    ncols: int = 4,
    panel_size: tuple[float, float] = (3.6, 3.3),
    confidence: float = 0.95,
) -> Figure:
    """Draw the Figure-4 grid of the paper: ``y`` against ``x``, one panel per group, one colour per scheme.

    Parameters
    ----------
    df : DataFrame
        One row per scheme and group (``store.table()``, the reference CSV). Where ``<x>_err`` or
        ``<y>_err`` hold values (seed spread), they are drawn as error bars.
    x, y, by, scheme : str
        Columns; ``by`` makes the panels (default dataset, teacher, student).
    correlations : DataFrame, optional
        The output of :func:`dastat.stats.correlate` for ``df``; by default computed here (r and
        scipy's p-value; they do not depend on resampling). The panel titles print them as
        ``Pearson: 0.9581 (p-value: 0.00%)``, as the paper does.
    methods : sequence of str
        Which coefficients the titles print.
    ncols : int
        Panels per row; rows follow the first ``by`` key (dataset), as in the paper.
    panel_size : (width, height) in inches
    confidence : float
        Level of the band around the OLS line.

    Returns
    -------
    matplotlib.figure.Figure
        Not shown and not registered with pyplot: display it in a notebook by leaving it as a cell's
        value, or save it with :func:`dastat.plot.save_figure` (PNG, SVG, PDF).
    """
    df = check_frame(df)
    by = check_by(by, df)
    methods = tuple(methods)
    require_columns(df, [*by, scheme, x, y])
    if df.empty:
        raise InvalidArgumentError("df has no rows to plot; check the source or the filters")
    if correlations is None:
        correlations = correlate(df, x=x, y=y, by=by, methods=methods, n_resamples=0)
    x_err, y_err = f"{x}_err", f"{y}_err"
    draw_x_err, draw_y_err = has_values(df, x_err), has_values(df, y_err)

    panels = _panel_order(df, by)
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = NotebookFigure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colours = scheme_colours(df[scheme])
    for ax, (keys, rows) in zip(axes, panels):
        xv, yv = numeric(rows, x).to_numpy(), numeric(rows, y).to_numpy()
        finite = np.isfinite(xv) & np.isfinite(yv)
        names = rows[scheme].astype(str).to_numpy()
        ols_band(ax, xv[finite], yv[finite], confidence)
        for s in scheme_order(names[finite]):
            mask = finite & (names == s)
            if draw_x_err or draw_y_err:
                ax.errorbar(xv[mask], yv[mask],
                            xerr=numeric(rows, x_err).to_numpy()[mask] if draw_x_err else None,
                            yerr=numeric(rows, y_err).to_numpy()[mask] if draw_y_err else None,
                            fmt="none", ecolor=colours[s], elinewidth=0.8, capsize=2, zorder=2)
            ax.scatter(xv[mask], yv[mask], color=colours[s], s=36, edgecolor="white", linewidth=0.5,
                       label=scheme_label(s), zorder=3, gid=POINTS_GID)
        stats = rows_of_panel(correlations, keys) if correlations is not None and len(correlations) else None
        ax.set_title(_panel_title(keys, stats, methods), fontsize=8.5)
        ax.set_xlabel(AXIS_NAMES.get(x, x))
        ax.set_ylabel(AXIS_NAMES.get(y, y))
        ax.tick_params(labelsize=7.5)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        ax.grid(True, lw=0.4, alpha=0.5)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    scheme_legend(fig, df[scheme], colours, 8.5)
    return fig
