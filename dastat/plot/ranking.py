"""The ranking chart: T. stddev per scheme with its interval, best (lowest) at the top."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dastat.checks import check_choice
from dastat.errors import InvalidArgumentError
from dastat.plot.labels import scheme_colours, scheme_label
from dastat.plot.saving import NotebookFigure
from dastat.stats.tables import check_frame, has_values, numeric, require_columns

BARS_GID = "dastat-bars"


def ranking(
    probe_table: pd.DataFrame,
    *,
    x: str = "t_stddev",
    scheme: str = "scheme",
    floor: str | None = "floor",
    title: str | None = None,
    width: float = 6.0,
    duplicates: str = "error",
) -> Figure:
    """Horizontal bars of T. stddev per scheme, lowest (best for KD) at the top, with CI error bars.

    Parameters
    ----------
    probe_table : DataFrame
        One row per scheme, as ``dastat rank`` or ``store.probes()`` give for one teacher and dataset:
        ``scheme``, ``x``, and optionally ``ci_low`` / ``ci_high`` (the interval, drawn as error bars)
        and ``floor`` (the label-composition floor, docs/method.md, "The floor"; drawn as a dashed line).
    x, scheme, floor : str
        Columns; ``floor=None`` leaves the floor out.
    title : str, optional
        Defaults to the table's teacher and dataset where it has them.
    width : float
        Figure width in inches; the height grows with the number of schemes.
    duplicates : {"error", "latest"}
        What to do with several rows for one scheme (e.g. ``store.probes()`` after repeated probes):
        refuse, or keep the latest (by ``created_at`` where present, else the last row).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidArgumentError
        Missing columns, no rows, several rows for one scheme, or several teachers/datasets mixed.
    """
    table = check_frame(probe_table, "probe_table")
    require_columns(table, [scheme, x], name="probe_table")
    if table.empty:
        raise InvalidArgumentError("probe_table has no rows; probe some schemes first (dastat rank)")
    for key in ("dataset", "teacher"):
        if key in table.columns and table[key].nunique() > 1:
            raise InvalidArgumentError(
                f"probe_table mixes {table[key].nunique()} values of {key!r} "
                f"({', '.join(map(str, table[key].unique()))}); a ranking is for one teacher on one "
                f"dataset: select one (e.g. --{key} NAME)")
    check_choice(duplicates, "duplicates", ("error", "latest"))
    if duplicates == "latest":
        if "created_at" in table.columns:
            table = table.sort_values("created_at", kind="stable")
        table = table.drop_duplicates(subset=[scheme], keep="last")
    if table[scheme].duplicated().any():
        dup = table.loc[table[scheme].duplicated(), scheme].iloc[0]
        raise InvalidArgumentError(f"probe_table has several rows for scheme {dup!r}; keep one per scheme "
                                   "(e.g. duplicates='latest', or filter by protocol)")
    table = table.assign(_value=numeric(table, x)).sort_values("_value", kind="stable")
    values = table["_value"].to_numpy()
    names = table[scheme].astype(str).to_numpy()
    colours = scheme_colours(names)

    fig = NotebookFigure(figsize=(width, 0.45 * len(table) + 1.4), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(table))
    xerr = None
    if has_values(table, "ci_low") and has_values(table, "ci_high"):
        low, high = numeric(table, "ci_low").to_numpy(), numeric(table, "ci_high").to_numpy()
        # Where an interval is missing draw none (0), not a NaN that hides the bar.
        xerr = np.nan_to_num(np.vstack([values - low, high - values]), nan=0.0).clip(min=0)
    bars = ax.barh(pos, values, xerr=xerr, color=[colours[s] for s in names], capsize=3, gid=BARS_GID,
                   error_kw={"elinewidth": 1, "ecolor": "0.2"})
    # Bar lengths are only honest from zero; the printed values carry the few-percent differences.
    ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], padding=6, fontsize=7.5, color="0.25")
    ax.set_yticks(pos, [scheme_label(s) for s in names])
    ax.invert_yaxis()  # lowest T. stddev on top: the recommended scheme first
    if floor is not None and has_values(table, floor):
        floors = numeric(table, floor).dropna().unique()
        for level in floors:
            ax.axvline(level, color="0.3", ls="--", lw=1)
        ax.text(floors[0], -0.6, " label floor", fontsize=7.5, color="0.3", va="bottom")
    else:
        floors = np.array([])
    high_end = float(np.max([*(values + (xerr[1] if xerr is not None else 0)), *floors]))
    ax.set_xlim(0.0, 1.25 * high_end)  # room for the value labels
    ax.set_xlabel("T. stddev (lower is better for KD)" if x == "t_stddev" else x)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    ax.grid(True, axis="x", lw=0.4, alpha=0.5)
    if title is None:
        parts = [str(table[k].iloc[0]) for k in ("teacher", "dataset") if k in table.columns]
        title = " on ".join(parts)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
