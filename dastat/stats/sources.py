"""Where a results table comes from: the store, a file, or a bundled reference."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from dastat.errors import DataError, InvalidArgumentError, StoreError
from dastat.stats.reference import load_reference

# What each store view is called on dastat.store.Store.
_STORE_VIEWS = ("table", "runs", "probes", "students")


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"results file {str(path)!r} does not exist; pass a CSV, Parquet or JSON table")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".json":
            return pd.read_json(path)
        return pd.read_csv(path)
    except (ValueError, ImportError, OSError) as err:
        raise DataError(f"cannot read results file {str(path)!r}: {err}. Expected a CSV (or .parquet/.json) "
                        "table with the columns of dastat.store.open().table()") from err


def read_results(
    *,
    store: str | Path | None = None,
    csv: str | Path | None = None,
    reference: str | None = None,
    view: str = "table",
) -> pd.DataFrame:
    """The results table from one source; with no source, the default store.

    Parameters
    ----------
    store : path, optional
        A dastat SQLite store; read with ``dastat.store.open(store).<view>()``.
    csv : path, optional
        A CSV (or .parquet / .json) file with the columns of ``store.table()``.
    reference : str, optional
        A bundled reference, e.g. "paper" (see :func:`load_reference`).
    view : {"table", "runs", "probes", "students"}
        Which view of the store to read.

    Raises
    ------
    InvalidArgumentError
        More than one source was given.
    DataError, StoreError
        The file or store cannot be read.
    """
    given = [name for name, v in (("store", store), ("csv", csv), ("reference", reference)) if v is not None]
    if len(given) > 1:
        raise InvalidArgumentError(f"give one source of results, not {' and '.join(given)}")
    if reference is not None:
        return load_reference(reference)
    if csv is not None:
        return _read_file(Path(csv))
    if view not in _STORE_VIEWS:
        raise InvalidArgumentError(f"view must be one of {', '.join(_STORE_VIEWS)}; got {view!r}")
    try:
        store_module = importlib.import_module("dastat.store")
    except ImportError as err:
        raise StoreError(f"the results store is not available in this installation ({err}); "
                         "use --csv FILE or --reference paper") from err
    with_store = store_module.open(store)
    try:
        return getattr(with_store, view)()
    finally:
        close = getattr(with_store, "close", None)
        if callable(close):
            close()


def select_rows(df: pd.DataFrame, **equals: str | None) -> pd.DataFrame:
    """Rows of ``df`` whose columns equal the given values (None: no condition)."""
    for column, value in equals.items():
        if value is None:
            continue
        if column not in df.columns:
            raise InvalidArgumentError(f"cannot select {column}={value!r}: the table has no {column!r} column")
        matched = df[df[column].astype(str) == str(value)]
        if matched.empty:
            known = ", ".join(sorted(df[column].dropna().astype(str).unique()))
            raise InvalidArgumentError(f"no rows with {column}={value!r}; the table has {column} {known}")
        df = matched
    return df
