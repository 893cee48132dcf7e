"""Any CSV / JSON / Parquet table of results, with ``--map column=field`` and ``--set field=value``.

A row with ``t_stddev`` gives a probe; a row with ``test_loss`` (or ``s_test_loss``) gives a student
run; a row with both (a Figure-4 point) gives one of each.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from dastat.store.ingest.parsed import Parsed, fail
from dastat.store.store import PROBE_FIELDS, STUDENT_FIELDS

NAME = "table"
SUFFIXES = (".csv", ".tsv", ".parquet", ".json")
ALIASES = {"s_test_loss": "test_loss", "s_test_acc1": "test_acc1", "s_test_acc5": "test_acc5",
            "model_s": "student", "model_t": "teacher", "t_std": "t_stddev", "mix_mode": "scheme"}
_REQUIRED = {"probe": ("teacher", "dataset", "scheme", "t_stddev"),
             "student": ("teacher", "student", "dataset", "scheme", "test_loss")}


def sniff(path: Path, head: str) -> bool:
    """By suffix."""
    return path.suffix.lower() in SUFFIXES


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return pd.DataFrame(data if isinstance(data, list) else data.get("records", data))
        sep = "\t" if suffix == ".tsv" else ","
        _check_row_lengths(path, sep)
        # Only an empty cell is "not stated"; a written "nan"/"inf" is a bad number and is refused.
        return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, ImportError, pd.errors.ParserError) as err:
        raise fail(path, None, f"cannot read it as a {suffix[1:]} table: {err}") from None


def _check_row_lengths(path: Path, sep: str) -> None:
    """Every row has the header's number of cells: a short row (a truncated file) is refused, not padded."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = csv.reader(handle, delimiter=sep)
        header = next(rows, None)
        if header is None:
            return
        try:
            for row in rows:
                if row and len(row) != len(header):
                    raise fail(path, rows.line_num, f"the row has {len(row)} cells and the header {len(header)} "
                               "(a truncated or hand-edited file?); fix or remove the row")
        except csv.Error as err:
            raise fail(path, rows.line_num, f"cannot read the row: {err}") from None


def _check_separator(path: Path, columns: list[str]) -> None:
    """A header read as one cell that holds another separator: the file is not separated as its suffix says."""
    expected = "tab" if path.suffix.lower() == ".tsv" else "','"
    if len(columns) == 1:
        for sep, name in ((";", "';'"), ("\t", "tab"), (",", "','"), ("|", "'|'")):
            if sep in str(columns[0]) and name != expected:
                raise fail(path, 1, f"this file is separated by {name}, not {expected}; save it comma-separated "
                           "as .csv (or tab-separated as .tsv) and ingest it again")


def parse(path: Path, mapping: Mapping[str, str] | None = None, constants: Mapping[str, str] | None = None) -> Parsed:
    """Rows to records; a missing required column is an IngestError naming it and the ``--map`` fix.

    Messages name the file's own columns (``s_test_loss`` where the file says so, not the field it becomes).
    """
    mapping = dict(mapping or {})
    frame = _read(path)
    original = [str(c) for c in frame.columns]
    _check_separator(path, original)
    missing_map = [c for c in mapping if c not in frame.columns]
    if missing_map:
        raise fail(path, None, f"--map names column(s) {missing_map} that the table lacks; its columns are "
                   f"{original}")
    frame = frame.rename(columns=mapping)
    aliased = {k: v for k, v in ALIASES.items() if k in frame.columns and v not in frame.columns}
    frame = frame.rename(columns=aliased)
    column_of = {field: column for column, field in {**aliased, **mapping}.items()}  # field -> the file's column
    columns = set(frame.columns) | set(constants or {})
    kinds = [k for k, col in (("probe", "t_stddev"), ("student", "test_loss")) if col in columns]
    if not kinds:
        raise fail(path, 1, f"expected a 't_stddev' column (probes) or a 'test_loss'/'s_test_loss' column "
                   f"(student runs); its columns are {original}. Name yours with --map COLUMN=t_stddev "
                   "(or --map COLUMN=s_test_loss)")
    for kind in kinds:
        lacking = [c for c in _REQUIRED[kind] if c not in columns]
        if lacking:
            has = [column_of.get(c, c) for c in _REQUIRED[kind] if c in columns]
            raise fail(path, 1, f"a {kind} table needs column(s) {lacking} besides {has}; its columns are "
                       f"{original}. Map a column with --map COLUMN=FIELD or give a constant with --set FIELD=VALUE")
    parsed = Parsed(parser=NAME)
    for i, row in enumerate(frame.to_dict(orient="records")):
        line = i + 2 if path.suffix.lower() in (".csv", ".tsv") else i + 1  # header is line 1
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        run_id = str(row.pop("run_id", None) or f"{path.name}:{line}")
        for kind in kinds:
            fields = PROBE_FIELDS if kind == "probe" else STUDENT_FIELDS
            key = "t_stddev" if kind == "probe" else "test_loss"
            column = column_of.get(key, key)
            if row.get(key) is None and key in frame.columns:
                if len(kinds) == 1:
                    raise fail(path, line, f"{column} is empty; expected a number")
                continue  # a mixed table: this row is of the other kind
            try:
                value = float(row[key]) if row.get(key) is not None else None
            except (TypeError, ValueError):
                raise fail(path, line, f"{column} should be a number; got {row[key]!r}") from None
            if value is not None and not math.isfinite(value):
                raise fail(path, line, f"{column} should be a finite number; got {row[key]!r}")
            record = {k: v for k, v in row.items() if k in fields or k in ("scheme_criterion",)}
            record["run_id"] = f"{run_id}#{kind}" if len(kinds) == 2 else run_id
            if kind == "student":
                record["config"] = {k: v for k, v in row.items() if k not in fields}
            if kind == "probe" and isinstance(record.get("set_size"), float):
                record["set_size"] = int(record["set_size"])
            (parsed.probes.append(record) if kind == "probe" else parsed.students.append((record, None)))
    return parsed
