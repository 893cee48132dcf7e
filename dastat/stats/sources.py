"""Where a results table comes from: the store, a file, or a bundled reference."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from dastat.errors import DataError, InvalidArgumentError, StoreError
from dastat.stats.reference import load_reference

# What each store view is called on dastat.store.Store.
_STORE_VIEWS = ("table", "runs", "probes", "students")
# The probe kinds store.table() never averages across, and its defaults.
_KINDS = ("protocol", "randomness", "set_size")
_DEFAULT_KIND = {"protocol": "fast", "randomness": "sample", "set_size": 640}
_OPTION = {"protocol": "--protocol", "randomness": "--randomness", "set_size": "--set-size"}
ANY = "any"


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
    protocol: str | None = None,
    randomness: str | None = None,
    set_size: int | str | None = None,
) -> pd.DataFrame:
    """The results table from one source; with no source, the default store (opened read-only).

    Parameters
    ----------
    store : path, optional
        A dastat SQLite store; read with ``dastat.store.open(store, readonly=True).<view>()``.
    csv : path, optional
        A CSV (or .parquet / .json) file with the columns of ``store.table()``.
    reference : str, optional
        A bundled reference, e.g. "paper" (see :func:`load_reference`).
    view : {"table", "runs", "probes", "students"}
        Which view of the store to read.
    protocol, randomness, set_size : optional
        Which probes the table joins (``store.table()``'s filters). None: the only kind the store
        holds, or else ``fast``/``sample``/640; ``"any"``: keep each value apart. For a file or a
        reference they keep the rows with that value, when the table has the column.

    Raises
    ------
    InvalidArgumentError
        More than one source was given.
    DataError, StoreError
        The file or store cannot be read, or the store's table has no rows (the message says what
        the store holds and which option would join it).
    """
    given = [name for name, v in (("store", store), ("csv", csv), ("reference", reference)) if v is not None]
    if len(given) > 1:
        raise InvalidArgumentError(f"give one source of results, not {' and '.join(given)}")
    asked = {"protocol": protocol, "randomness": randomness, "set_size": set_size}
    if reference is not None or csv is not None:
        frame = load_reference(reference) if reference is not None else _read_file(Path(csv))
        kept = {k: v for k, v in asked.items() if v not in (None, ANY) and k in frame.columns}
        return select_rows(frame, **kept) if kept else frame
    if view not in _STORE_VIEWS:
        raise InvalidArgumentError(f"view must be one of {', '.join(_STORE_VIEWS)}; got {view!r}")
    try:
        store_module = importlib.import_module("dastat.store")
    except ImportError as err:
        raise StoreError(f"the results store is not available in this installation ({err}); "
                         "use --csv FILE or --reference paper") from err
    with_store = store_module.open(store, readonly=True)
    try:
        if view != "table":
            return getattr(with_store, view)()
        probes = with_store.probes()
        kind = choose_probe_kind(probes, **asked)
        table = with_store.table(**kind)
        if table.empty:
            raise DataError(explain_empty(str(getattr(with_store, "path", store)), probes, with_store.students(),
                                          kind))
        return table
    finally:
        close = getattr(with_store, "close", None)
        if callable(close):
            close()


def _combinations(probes: pd.DataFrame) -> pd.DataFrame:
    if probes.empty:
        return pd.DataFrame(columns=[*_KINDS, "n"])
    found = probes.dropna(subset=["t_stddev"]) if "t_stddev" in probes.columns else probes
    return found.groupby(list(_KINDS), dropna=False).size().rename("n").reset_index()


def choose_probe_kind(probes: pd.DataFrame, **asked) -> dict:
    """``store.table()``'s filters for ``asked`` (None: choose, ``"any"``: keep apart) given the probes held.

    A kind left unsaid takes the only value the (matching) probes have, else the default
    (``fast``, ``sample``, 640).
    """
    combos = _combinations(probes)
    for field in _KINDS:
        value = asked.get(field)
        if value not in (None, ANY):
            combos = combos[combos[field].astype(str) == str(value)]
    kind: dict = {}
    for field in _KINDS:
        value = asked.get(field)
        if value == ANY:
            kind[field] = None
        elif value is not None:
            kind[field] = int(value) if field == "set_size" else str(value)
        else:
            values = combos[field].dropna().unique()
            kind[field] = (_plain(values[0]) if len(values) == 1 else _DEFAULT_KIND[field])
    return kind


def _plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _describe(combos: pd.DataFrame) -> str:
    return "; ".join(f"protocol {r.protocol}, randomness {r.randomness}, set size {_plain(r.set_size)} "
                     f"({r.n} probe{'s' if r.n != 1 else ''})" for r in combos.itertuples(index=False))


def explain_empty(where: str, probes: pd.DataFrame, students: pd.DataFrame, kind: dict) -> str:
    """Why ``store.table(**kind)`` joined nothing, and the option that would join something."""
    asked = ", ".join(f"{k.replace('_', ' ')} {'any' if v is None else v}" for k, v in kind.items())
    head = f"the results store {where!r} has no rows to join for probes of {asked}"
    combos = _combinations(probes)
    if combos.empty:
        return (f"{head}: it holds no probe results (and {len(students)} student runs). Record some with "
                "`dastat rank`/`dastat probe`, or ingest them (`dastat ingest FILE --store ...`)")
    if students.empty:
        return (f"{head}: it holds probes ({_describe(combos)}) but no student runs. Add some with "
                "`dastat train --record` or `dastat ingest`")
    matching = combos
    for field, value in kind.items():
        if value is not None:
            matching = matching[matching[field].astype(str) == str(value)]
    if matching.empty:
        options = []
        for r in combos.itertuples(index=False):
            options.append(" ".join(f"{_OPTION[f]} {_plain(getattr(r, f))}" for f in _KINDS
                                    if kind[f] is not None and str(kind[f]) != str(_plain(getattr(r, f)))))
        hint = " or ".join(dict.fromkeys(o for o in options if o))
        return f"{head}: its probes are {_describe(combos)}; pass {hint} to join those"
    keys = ("dataset", "teacher", "scheme")
    held = {k: sorted(probes[k].dropna().astype(str).unique()) for k in keys}
    ran = {k: sorted(students[k].dropna().astype(str).unique()) for k in keys}
    differ = [f"{k}: probes {', '.join(held[k]) or 'none'} / students {', '.join(ran[k]) or 'none'}"
              for k in keys if not set(held[k]) & set(ran[k])]
    return (f"{head}: no student run has the dataset, teacher and scheme of a probe"
            + (f" ({'; '.join(differ)})" if differ else "")
            + f". It holds {len(probes)} probes and {len(students)} student runs; ingest the missing side "
            "or check the names (`dastat export --what probes` / `--what students`)")


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
