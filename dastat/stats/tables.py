"""Checking and grouping the result tables that the statistics read (store.table() or a CSV)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from dastat.errors import InvalidArgumentError

# The key columns of one Figure-4 panel, as in store.table() and the reference CSV.
PAIR_KEYS: tuple[str, ...] = ("dataset", "teacher", "student")
# store.table()'s distillation-method column (``method`` in the store; here ``kd_method``, since the
# statistics' own ``method`` column names the correlation method). Present when runs of more than plain
# KD are in the table: the default grouping then keeps each method apart.
KD_METHOD = "kd_method"


def check_frame(df: object, name: str = "df") -> pd.DataFrame:
    """A pandas DataFrame, or InvalidArgumentError naming ``name``."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidArgumentError(
            f"{name} must be a pandas DataFrame (e.g. dastat.store.open().table() or pandas.read_csv); "
            f"got {type(df).__name__}"
        )
    return df


def check_by(by: str | Iterable[str] | None, df: pd.DataFrame | None = None) -> tuple[str, ...]:
    """Group keys as a tuple; a single string is one key, None or "" means no grouping.

    The default :data:`PAIR_KEYS` gains ``kd_method`` when ``df`` has that column, so that students of
    different distillation methods never share a panel.
    """
    if by is None or by == "":
        return ()
    if isinstance(by, str):
        by = tuple(k.strip() for k in by.split(",") if k.strip())
    by = tuple(by)
    if df is not None and by == PAIR_KEYS and KD_METHOD in df.columns:
        by = (*PAIR_KEYS, KD_METHOD)
    return by


def with_kd_method(runs: pd.DataFrame) -> pd.DataFrame:
    """A frame of runs (``store.students()``, ``store.runs()``) with the tables' ``kd_method`` key.

    The store names a student's distillation method ``method`` (empty: plain KD); probe rows
    (``kind == "probe"``) have none and keep none, so that they still match every method's students.
    """
    if KD_METHOD in runs.columns or "method" not in runs.columns:
        return runs
    method = runs["method"].fillna("kd")
    if "kind" in runs.columns:
        method = method.where(runs["kind"] != "probe")
    return runs.assign(**{KD_METHOD: method})


def require_columns(df: pd.DataFrame, columns: Iterable[str], *, name: str = "df") -> None:
    """Raise InvalidArgumentError listing every column of ``columns`` that ``df`` lacks."""
    missing = [c for c in dict.fromkeys(columns) if c not in df.columns]
    if missing:
        raise InvalidArgumentError(
            f"{name} lacks the column(s) {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, map(str, df.columns)))}. Pass the table of dastat.store.open().table() "
            "or the reference CSV, or name your own columns with x=, y=, by=."
        )


def numeric(df: pd.DataFrame, column: str, *, name: str = "df") -> pd.Series:
    """Column ``column`` as float, refusing text that is not a number."""
    converted = pd.to_numeric(df[column], errors="coerce")
    bad = converted.isna() & df[column].notna()
    if bad.any():
        example = df[column][bad].iloc[0]
        raise InvalidArgumentError(
            f"{name}[{column!r}] must hold numbers; row {df.index[bad][0]!r} holds {example!r}"
        )
    return converted.astype(float)


def groups(df: pd.DataFrame, by: Sequence[str]) -> Iterator[tuple[dict, pd.DataFrame]]:
    """(keys as a dict, rows) per group, in the order groups first appear in ``df``."""
    if not by:
        yield {}, df
        return
    # dropna=False: a group whose key is missing is still reported, not silently lost.
    for key, rows in df.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(by, key)), rows


def paired_values(rows: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Finite (x, y) pairs of ``rows`` and how many rows were dropped for a missing value."""
    xv = numeric(rows, x).to_numpy()
    yv = numeric(rows, y).to_numpy()
    keep = np.isfinite(xv) & np.isfinite(yv)
    return xv[keep], yv[keep], int((~keep).sum())


def has_values(df: pd.DataFrame, column: str | None) -> bool:
    """Whether ``column`` exists in ``df`` and holds at least one number (the `_err` columns may be empty)."""
    return column is not None and column in df.columns and numeric(df, column).notna().any()
