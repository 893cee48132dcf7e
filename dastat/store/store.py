"""The results store: one SQLite file holding every probe result and every student run."""

from __future__ import annotations

import json
import math
import os
import shlex
import sqlite3
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from dastat.errors import InvalidArgumentError, StoreCorruptError, StoreError
from dastat.store.names import normalise_arch, normalise_scheme
from dastat.store.schema import PREDICTOR_FIELDS, SCHEMA_VERSION, migrate

PROBE_FIELDS = (
    "teacher", "teacher_checksum", "dataset", "scheme", "scheme_params", "protocol", "randomness",
    "set_size", "seed", "t_stddev", "ci_low", "ci_high", "n_sets", "rows_per_set",
    "n_teacher_forwards", "t_ce_stddev", "mean_entropy_x", "mean_entropy_xprime", "teacher_acc_x",
    "teacher_acc_xprime", "floor", "t_stddev_rel", "normalisation", "elapsed_s", "dastat_version",
    "created_at", *PREDICTOR_FIELDS,
)
STUDENT_FIELDS = (
    "teacher", "teacher_checksum", "student", "dataset", "scheme", "scheme_params", "seed", "epochs",
    "epoch_factor", "test_loss", "test_acc1", "test_acc5", "best_test_acc1", "best_test_loss",
    "best_epoch", "train_loss", "elapsed_s", "dastat_version", "created_at", "config", "randomness", "method",
)
CURVE_FIELDS = ("epoch", "test_loss", "test_acc1", "test_acc5", "train_loss", "lr", "wall_s")
_JSON_FIELDS = ("scheme_params", "normalisation", "config")
# rows_per_set is a mean (a set holding a short last batch has fewer rows), stored as a number, not forced to an
# integer (a REAL column since schema v4).
_INT_FIELDS = ("set_size", "seed", "n_sets", "n_teacher_forwards", "epochs", "best_epoch", "epoch")
_TEXT_FIELDS = ("teacher", "teacher_checksum", "student", "dataset", "scheme", "protocol", "randomness",
                "method", "dastat_version", "created_at")
_NON_NUMERIC = ("run_id", "source", "source_path", "extra", "kind", "path", "content_hash", "parser",
                "ingested_at")
# Probe columns that table() carries beside t_stddev (mean over probes): teacher-side predictors
# for dastat.stats.compare_predictors.
PREDICTOR_COLUMNS = ("t_stddev_rel", "t_ce_stddev", "mean_entropy_x", "mean_entropy_xprime",
                     "teacher_acc_x", "teacher_acc_xprime", "floor", "entropy_xprime", "affinity", "ce_xprime",
                     "consistency", "sharpness")
TABLE_COLUMNS = (
    "t_stddev", "t_stddev_err", "s_test_loss", "s_test_loss_err", "n_probes", "n_runs", "s_test_acc1",
    "protocol", "randomness", "set_size", *PREDICTOR_COLUMNS,
)
_EXPORT_FORMATS = ("csv", "parquet", "json")
_BUSY_TIMEOUT_S = 120.0
_REREADS = 5  # an immutable read overtaken by a writer is repeated at most this often


def _holds_bytes(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def default_path() -> Path:
    """``$DASTAT_STORE``, or ``results/dastat.sqlite`` under the current directory."""
    return Path(os.environ.get("DASTAT_STORE") or Path("results") / "dastat.sqlite")


def open(path: str | os.PathLike | None = None, *, readonly: bool = False) -> Store:  # shadows builtins.open
    """Open the store at ``path``, checked (SQLite, ``PRAGMA quick_check``) before anything else.

    Parameters
    ----------
    path : path-like, optional
        SQLite file; default :func:`default_path`. For writing, its folder is created when missing.
    readonly : bool
        Open for reading only: the file must exist, and nothing (not even the journal mode) is
        written, so a store the user may not write (a shared results folder) can be read.

    Returns
    -------
    Store

    Raises
    ------
    StoreCorruptError
        SQLite reports the file malformed (it is never written to).
    StoreError
        When the file is not an SQLite database, cannot be created or written, or is from a newer dastat.
    """
    return Store(default_path() if path is None else path, readonly=readonly)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dastat_version() -> str:
    import dastat

    return dastat.__version__


def _plain(value: Any) -> Any:
    """numpy/torch scalars to Python; NaN stays NaN (SQLite stores it as NULL)."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, RuntimeError):  # a tensor/array with more than one element
            return value.tolist()
    return value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(field: str, value: Any) -> Any:
    value = _plain(value)
    if _is_missing(value):
        return None
    if field in _JSON_FIELDS:
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, default=str)
    if field in _INT_FIELDS:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int | str):
            try:
                return int(value)
            except ValueError:
                pass
        raise InvalidArgumentError(f"record field {field!r} must be an integer; got {value!r}")
    if field in _TEXT_FIELDS:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"record field {field!r} must be a number; got {value!r}") from None
    return float(value)


def _row(record: Mapping[str, Any], fields: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(record, Mapping):
        raise InvalidArgumentError(f"record must be a dict; got {type(record).__name__}")
    row = {f: _cell(f, record.get(f)) for f in fields}
    for field in ("teacher", "student"):
        if field in row:
            row[field] = normalise_arch(row[field])[0]
    if row.get("scheme") is not None:
        row["scheme"] = normalise_scheme(row["scheme"])[0]
    row["dastat_version"] = row["dastat_version"] or _dastat_version()
    row["created_at"] = row["created_at"] or _now()
    extra = {k: _plain(v) for k, v in record.items() if k not in fields and k not in ("run_id", "kind")}
    return row, extra


class Store:
    """Probe results, student runs, per-epoch curves and their provenance, in one SQLite file.

    Every write is one transaction (``BEGIN IMMEDIATE``); the file is in WAL mode with a busy
    timeout, so several processes (sweep jobs) may write at once. Use :func:`dastat.store.open`.
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._check_path()
        self._conn: sqlite3.Connection | None = None
        try:
            if readonly:
                self._connect_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._connect(self.path)
            self._quick_check()
            if readonly:
                self._check_readable_version()
            else:
                self._set_wal()
                self._conn.execute("PRAGMA foreign_keys = ON")
                migrate(self._conn)
        except (sqlite3.DatabaseError, OSError, StoreError) as err:
            if self._conn is not None:  # closed now, so that a refused open leaves no -wal/-shm behind
                self._conn.close()
            raise self._error(err) from err

    def _check_path(self) -> None:
        """Refuse, before SQLite touches it, a path that cannot be the store this open needs."""
        where = str(self.path)
        if self.path.is_dir():
            raise StoreError(f"the results store {where!r} is a folder; give --store a file name, "
                             f"e.g. {str(self.path / 'dastat.sqlite')!r}")
        if self.readonly:
            if not self.path.is_file():
                raise StoreError(f"there is no results store at {where!r}; give --store the file that "
                                 "`dastat rank`, `dastat ingest` or `dastat train --record` wrote")
            return
        folder = next((p for p in self.path.parents if p.exists()), Path("."))
        if not folder.is_dir():
            raise StoreError(f"cannot create the results store {where!r}: {str(folder)!r} is a file, not a "
                             "folder; give --store a path in a folder")
        writable = os.access(self.path, os.W_OK) if self.path.exists() else True
        if not (writable and os.access(folder if not self.path.exists() else self.path.parent, os.W_OK)):
            raise StoreError(f"the results store {where!r} is read-only (the file or its folder); reading "
                             "commands (export, correlate, plot, info) can still read it; to write results, "
                             "give --store a writable copy or a new file name")

    def _connect_readonly(self) -> None:
        """Open for reading without writing anything beside the store (docs/store.md, "Reading").

        While a writer has the store open, its write-ahead log (``-wal``) holds pages the file does not:
        read through it as an ordinary reader (the side files exist already). Otherwise the file alone
        holds every committed page: open it ``immutable`` (no locks, no ``-wal``/``-shm``), which also
        reads a store in a folder nobody may write. :meth:`_frame` reopens when the file changes meanwhile.
        """
        if self._conn is not None:
            self._conn.close()
        self._stamp = self._file_stamp()
        self._immutable = not any(_holds_bytes(Path(f"{self.path}{side}")) for side in ("-wal", "-journal"))
        mode = "mode=ro&immutable=1" if self._immutable else "mode=ro"
        self._connect(f"{self.path.resolve().as_uri()}?{mode}", uri=True)

    def _connect(self, target: str | Path, uri: bool = False) -> None:
        self._conn = sqlite3.connect(target, uri=uri, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        # sqlite3 keeps each connection in a reference cycle (its statement cache), so only the garbage collector
        # would close one left open when an exception passes a Store: close it when the Store goes instead, so
        # that no -wal/-shm stays beside the file.
        weakref.finalize(self, self._conn.close)
        self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")

    def _file_stamp(self) -> tuple[int, int, int]:
        info = os.stat(self.path)
        return info.st_ino, info.st_size, info.st_mtime_ns

    def _check_readable_version(self) -> None:
        version = self.schema_version
        if version == 0 and not self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            raise StoreError(f"{str(self.path)!r} is empty, not a results store; give --store the file that "
                             "`dastat rank`, `dastat ingest` or `dastat train --record` wrote")
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"the results store {str(self.path)!r} has schema version {version} "
                f"(this dastat reads {SCHEMA_VERSION}); open it once with a writing command "
                "(e.g. `dastat ingest`) to upgrade it, or upgrade a writable copy")

    def _quick_check(self) -> None:
        rows = [r[0] for r in self._conn.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise StoreCorruptError(self._corrupt_message(rows[0]))

    def _corrupt_message(self, detail: str) -> str:
        where = str(self.path)
        lines = [line.strip() for line in detail.splitlines() if line.strip() and "***" not in line]
        detail = (lines[0] if lines else detail)[:200]
        return (f"the results store {where!r} is corrupt ({detail}); dastat will not write to it. "
                f"Check it with `sqlite3 {shlex.quote(where)} \"pragma integrity_check\"` and restore it from a backup "
                "(or give --store a new file name)")

    def _error(self, err: BaseException) -> StoreError:
        """The user's view of an error SQLite (or the file system) raised on this store."""
        if isinstance(err, StoreError):
            return err
        text = str(err)
        if "malformed" in text or "corrupt" in text:
            return StoreCorruptError(self._corrupt_message(text))
        if "readonly" in text or "read-only" in text:
            return StoreError(f"the results store {str(self.path)!r} is read-only ({text}); give --store a "
                              "writable copy or a new file name")
        if "not a database" in text:
            return StoreError(f"{str(self.path)!r} is not a results store: {text}. Give --store an SQLite file "
                              "made by dastat (or a new file name)")
        return StoreError(f"cannot open the results store {str(self.path)!r}: {text}. Give --store a writable "
                          "path to an SQLite file made by dastat (or a new file name)")

    def _set_wal(self) -> None:
        # Switching to WAL needs a moment alone with the file; other openers may hold it briefly.
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (the store stays on disk)."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (``PRAGMA user_version``)."""
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside is stored, or (on any error) nothing."""
        if self.readonly:
            raise StoreError(f"the results store {str(self.path)!r} was opened read-only; "
                             "open it with dastat.store.open(path) to write")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if "locked" in str(err):
                raise StoreError(f"the results store {str(self.path)!r} stayed locked: {err}") from err
            raise self._error(err) from err
        try:
            yield self._conn
        except BaseException as err:
            self._conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.DatabaseError):
                raise self._error(err) from err
            raise
        else:
            self._conn.execute("COMMIT")

    # -- writes ----------------------------------------------------------------------------------
    def add_probe(self, record: Mapping[str, Any], source: str = "dastat") -> str:
        """Store one probe result.

        Parameters
        ----------
        record : dict
            ``ProbeResult.to_dict()`` or any dict with the probe fields (teacher, dataset, scheme,
            protocol, randomness, set_size, t_stddev, ci_low, ci_high, n_sets, ...). Fields not in
            the table are kept as JSON in ``extra``. A ``run_id`` key replaces that run if stored.
        source : str
            Who produced it (``dastat`` for the probe engine).

        Returns
        -------
        str
            The run id.
        """
        with self.transaction() as conn:
            return self._insert_probe(conn, record, source, None)

    def add_student_run(self, record: Mapping[str, Any], curve: Iterable[Mapping[str, Any]] | None = None,
                        source: str = "dastat") -> str:
        """Store one student run and, optionally, its per-epoch curve, in one transaction.

        Parameters
        ----------
        record : dict
            The trainer's student record (teacher, student, dataset, scheme, seed, epochs,
            test_loss, test_acc1, test_acc5, best_test_acc1, best_epoch, ...).
        curve : list of dict, optional
            Rows ``{epoch, test_loss, test_acc1, test_acc5, train_loss, lr, wall_s}``.
        source : str
            Who produced it.

        Returns
        -------
        str
            The run id.
        """
        with self.transaction() as conn:
            return self._insert_student(conn, record, curve, source, None)

    def _insert_probe(self, conn, record, source, source_id) -> str:
        row, extra = _row(record, PROBE_FIELDS)
        run_id = str(record.get("run_id") or uuid.uuid4().hex)
        conn.execute("DELETE FROM probes WHERE run_id = ?", (run_id,))
        cols = ["run_id", "source_id", "source", *PROBE_FIELDS, "extra"]
        values = [run_id, source_id, source, *row.values(), json.dumps(extra, default=str) if extra else None]
        conn.execute(f"INSERT INTO probes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        return run_id

    def _insert_student(self, conn, record, curve, source, source_id) -> str:
        row, extra = _row(record, STUDENT_FIELDS)
        run_id = str(record.get("run_id") or uuid.uuid4().hex)
        conn.execute("DELETE FROM curves WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM students WHERE run_id = ?", (run_id,))
        cols = ["run_id", "source_id", "source", *STUDENT_FIELDS, "extra"]
        values = [run_id, source_id, source, *row.values(), json.dumps(extra, default=str) if extra else None]
        conn.execute(f"INSERT INTO students ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        if curve:
            rows = [[run_id, *(_cell(f, point.get(f)) for f in CURVE_FIELDS)] for point in curve]
            conn.executemany(
                f"INSERT OR REPLACE INTO curves (run_id, {', '.join(CURVE_FIELDS)}) "
                f"VALUES ({', '.join('?' * (len(CURVE_FIELDS) + 1))})", rows)
        return run_id

    def replace_source(self, path: str | os.PathLike, content_hash: str, parser: str, *,
                       probes: Sequence[Mapping[str, Any]] = (),
                       students: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]] | None]] = (),
                       source: str | None = None) -> str:
        """Store everything read from one file, in one transaction.

        The same content (by hash, at any path) adds nothing; a changed file at a known path
        replaces the records it gave before.

        Returns
        -------
        str
            ``"added"``, ``"replaced"`` or ``"unchanged"``.
        """
        path = str(Path(path).resolve())
        with self.transaction() as conn:
            same = conn.execute("SELECT 1 FROM sources WHERE content_hash = ? LIMIT 1", (content_hash,))
            if same.fetchone():
                return "unchanged"
            old = conn.execute("SELECT source_id FROM sources WHERE path = ?", (path,)).fetchone()
            if old:
                (source_id,) = old
                conn.execute("DELETE FROM curves WHERE run_id IN "
                             "(SELECT run_id FROM students WHERE source_id = ?)", (source_id,))
                conn.execute("DELETE FROM students WHERE source_id = ?", (source_id,))
                conn.execute("DELETE FROM probes WHERE source_id = ?", (source_id,))
                conn.execute("UPDATE sources SET content_hash = ?, parser = ?, ingested_at = ? "
                             "WHERE source_id = ?", (content_hash, parser, _now(), source_id))
            else:
                cur = conn.execute("INSERT INTO sources (path, content_hash, parser, ingested_at) "
                                   "VALUES (?, ?, ?, ?)", (path, content_hash, parser, _now()))
                source_id = cur.lastrowid
            label = source or parser
            for record in probes:
                self._insert_probe(conn, record, label, source_id)
            for record, curve in students:
                self._insert_student(conn, record, curve, label, source_id)
        return "replaced" if old else "added"

    # -- reads -----------------------------------------------------------------------------------
    def _frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        try:
            frame = self._read(sql, params)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError, OSError) as err:
            raise self._error(err) from err
        # A column with no value at all comes back as object None; numbers are NaN when unknown.
        for col in frame.columns:
            if col not in _TEXT_FIELDS and col not in _JSON_FIELDS and col not in _NON_NUMERIC:
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        return frame

    def _read(self, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        """One query; an immutable read is repeated on a fresh connection when a writer changed the file."""
        for _ in range(_REREADS):
            if self.readonly and self._immutable and self._file_stamp() != self._stamp:
                self._connect_readonly()
            frame = pd.read_sql_query(sql, self._conn, params=params)
            if not (self.readonly and self._immutable) or self._file_stamp() == self._stamp:
                return frame
        raise StoreError(f"the results store {str(self.path)!r} kept changing while it was read "
                         f"({_REREADS} tries); try again when the writing command has finished")

    def probes(self) -> pd.DataFrame:
        """One row per probe run: ``run_id, teacher, dataset, scheme, protocol, randomness, set_size,
        t_stddev, ci_low, ci_high, n_sets, ..., source, source_path`` (NaN where a source is silent)."""
        return self._frame(
            f"SELECT p.run_id, {', '.join('p.' + f for f in PROBE_FIELDS)}, p.extra, p.source, "
            "s.path AS source_path FROM probes p LEFT JOIN sources s USING (source_id) ORDER BY p.rowid")

    def students(self) -> pd.DataFrame:
        """One row per student run: ``run_id, teacher, student, dataset, scheme, seed, epochs,
        test_loss, test_acc1, test_acc5, best_test_acc1, best_epoch, ..., source, source_path``."""
        return self._frame(
            f"SELECT t.run_id, {', '.join('t.' + f for f in STUDENT_FIELDS)}, t.extra, t.source, "
            "s.path AS source_path FROM students t LEFT JOIN sources s USING (source_id) ORDER BY t.rowid")

    def curves(self, run_id: str | None = None) -> pd.DataFrame:
        """Per-epoch rows ``run_id, epoch, test_loss, test_acc1, test_acc5, train_loss, lr, wall_s``."""
        where, params = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        return self._frame(f"SELECT run_id, {', '.join(CURVE_FIELDS)} FROM curves {where} "
                           "ORDER BY run_id, epoch", params)

    def sources(self) -> pd.DataFrame:
        """Provenance: one row per ingested file (path, content_hash, parser, ingested_at)."""
        return self._frame("SELECT * FROM sources ORDER BY source_id")

    def runs(self) -> pd.DataFrame:
        """One row per probe run and per student run, keyed alike, for statistics that resample runs.

        Columns: ``kind`` (``probe``/``student``), ``run_id, dataset, teacher, student, scheme,
        seed, protocol, randomness, set_size, t_stddev, s_test_loss, s_test_acc1, source``, the
        students' distillation ``method`` (NULL on probe rows and for plain KD runs stored without one),
        then the probes' predictor columns (as in :meth:`table`; NULL on student rows).
        """
        return self._frame(
            "SELECT 'probe' AS kind, run_id, dataset, teacher, NULL AS student, scheme, seed, protocol, "
            "randomness, set_size, t_stddev, NULL AS s_test_loss, NULL AS s_test_acc1, source, NULL AS method, "
            f"{', '.join(PREDICTOR_COLUMNS)} FROM probes UNION ALL "
            "SELECT 'student', run_id, dataset, teacher, student, scheme, seed, NULL, NULL, NULL, "
            f"NULL, test_loss, test_acc1, source, method, {', '.join(['NULL'] * len(PREDICTOR_COLUMNS))} "
            "FROM students ORDER BY kind, run_id")

    def table(self, by: Sequence[str] | None = None, *,
              protocol: str | None = "fast", randomness: str | None = "sample",
              set_size: int | None = 640, how: str = "inner", match_randomness: bool = True) -> pd.DataFrame:
        """The seed-aggregated table the statistics layer consumes: probes joined to student runs.

        Probes are per teacher + dataset + scheme; each group of student runs is joined to the
        probes with the same teacher, dataset and scheme. Probes are averaged only within one
        protocol, randomness and set size: pass ``None`` for any of them to keep each value as its
        own rows rather than to average across values.

        Parameters
        ----------
        by : sequence of str, optional
            Grouping keys, from ``dataset, teacher, student, kd_method, scheme``; default all but
            ``kd_method``, which joins them (after ``student``) when the store holds students of a
            method other than plain KD, so that methods are never averaged together. ``kd_method`` is
            the students' ``method`` column (``kd`` for runs recorded before it existed).
        protocol, randomness : str or None
            Which probes (defaults ``fast``, ``sample``).
        set_size : int or None
            Probe set size (default 640, docs/method.md, "Protocols").
        how : {"inner", "outer", "left"}
            ``inner`` keeps groups that have both probes and student runs; ``left`` keeps every
            student group; ``outer`` also keeps probe-only groups.
        match_randomness : bool
            Join probes only to students trained with the same randomness (per-image ``sample`` or
            per-batch ``batch`` scheme draws; students of unknown randomness join any). False joins
            across randomness, as before the students recorded theirs.

        Returns
        -------
        DataFrame
            ``by`` columns, then ``t_stddev, t_stddev_err, s_test_loss, s_test_loss_err, n_probes,
            n_runs, s_test_acc1, protocol, randomness, set_size``; ``_err`` columns are the stddev
            over runs (NaN with a single run). Then the probes' other statistics, averaged like
            ``t_stddev``: ``t_stddev_rel, t_ce_stddev, mean_entropy_x, mean_entropy_xprime,
            teacher_acc_x, teacher_acc_xprime, floor``; and ``s_randomness``, the students'
            randomness, when matched.
        """
        keys = ("dataset", "teacher", "student", "kd_method", "scheme")
        students = self._frame("SELECT dataset, teacher, student, method, scheme, randomness, test_loss, test_acc1 "
                               "FROM students WHERE test_loss IS NOT NULL")
        students = (students.rename(columns={"method": "kd_method", "randomness": "s_randomness"})
                    .fillna({"kd_method": "kd"}))
        if by is None:
            by = [k for k in keys if k != "kd_method" or (students["kd_method"] != "kd").any()]
        by = list(by)
        bad = [k for k in by if k not in keys]
        if bad or not by:
            raise InvalidArgumentError(f"by must be a non-empty subset of {keys}; got {tuple(by)}")
        if how not in ("inner", "outer", "left"):
            raise InvalidArgumentError(f"how must be 'inner', 'outer' or 'left'; got {how!r}")
        fixed = {"protocol": protocol, "randomness": randomness, "set_size": set_size}
        probes = self._frame("SELECT dataset, teacher, scheme, protocol, randomness, set_size, t_stddev, "
                             f"{', '.join(PREDICTOR_COLUMNS)} FROM probes WHERE t_stddev IS NOT NULL")
        for field, value in fixed.items():
            if value is not None:
                probes = probes[probes[field] == value]
        split = [f for f, v in fixed.items() if v is None]
        probe_keys = [k for k in by if k not in ("student", "kd_method")] + split
        grouped = probes.groupby(probe_keys, dropna=False)
        p = grouped["t_stddev"].agg(t_stddev="mean", t_stddev_err="std", n_probes="count")
        p = p.join(grouped[list(PREDICTOR_COLUMNS)].mean()).reset_index()
        if match_randomness and randomness is not None:
            students = students[students["s_randomness"].isna() | (students["s_randomness"] == randomness)]
        s = (students.groupby([*by, "s_randomness"] if match_randomness else by, dropna=False)
             .agg(s_test_loss=("test_loss", "mean"), s_test_loss_err=("test_loss", "std"),
                  n_runs=("test_loss", "count"), s_test_acc1=("test_acc1", "mean")).reset_index())
        on = [k for k in by if k not in ("student", "kd_method")]
        if on:
            merged = s.merge(p, on=on, how={"left": "left", "inner": "inner", "outer": "outer"}[how])
        else:
            merged = s.merge(p, how="cross")
        if match_randomness and randomness is None:  # probes of each randomness meet their own students
            known = merged["s_randomness"].notna() & merged["randomness"].notna()
            merged = merged[~known | (merged["s_randomness"] == merged["randomness"])]
        for field, value in fixed.items():
            if value is not None:
                merged[field] = value
        merged["n_probes"] = merged["n_probes"].fillna(0).astype(int)
        merged["n_runs"] = merged["n_runs"].fillna(0).astype(int)
        shown = [*by, *TABLE_COLUMNS, *(["s_randomness"] if match_randomness else [])]
        return merged[shown].sort_values([*by, *split]).reset_index(drop=True)

    def export(self, path: str | os.PathLike, format: str | None = None, *, what: str = "table",
               **table_kwargs) -> Path:
        """Write ``students()``, ``probes()``, ``runs()`` or ``table(**table_kwargs)`` to a file.

        Parameters
        ----------
        path : path-like
            Output file.
        format : {"csv", "parquet", "json"}, optional
            Default: from the file's suffix.
        what : {"table", "students", "probes", "runs", "curves"}

        Returns
        -------
        Path
        """
        path = Path(path)
        fmt = format or path.suffix.lstrip(".").lower()
        if fmt not in _EXPORT_FORMATS:
            raise InvalidArgumentError(f"format must be one of {_EXPORT_FORMATS}; got {fmt!r} "
                                       "(give --format, or an output name ending in .csv/.parquet/.json)")
        readers = {"table": lambda: self.table(**table_kwargs), "students": self.students,
                   "probes": self.probes, "runs": self.runs, "curves": self.curves}
        if what not in readers:
            raise InvalidArgumentError(f"what must be one of {tuple(readers)}; got {what!r}")
        frame = readers[what]()
        for col in (*_INT_FIELDS, "n_probes", "n_runs"):  # integer fields stay integers (640, not 640.0)
            if col in frame.columns and frame[col].dtype.kind == "f":
                frame[col] = frame[col].astype("Int64")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "json":
            frame.to_json(path, orient="records", indent=2)
        else:
            frame.to_parquet(path, index=False)
        return path
