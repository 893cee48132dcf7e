"""The store is checked when it is opened: not SQLite, corrupt, read-only, or the wrong kind of path."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from dastat import store as results_store
from dastat.errors import StoreCorruptError, StoreError

_PROBE = {"teacher": "resnet56", "dataset": "digits", "scheme": "cutout", "protocol": "fast",
          "randomness": "sample", "set_size": 640}


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _filled(path, n: int = 2000):
    with results_store.open(path) as db, db.transaction() as conn:
        for i in range(n):
            db._insert_probe(conn, {**_PROBE, "seed": i, "t_stddev": 0.01 + 1e-6 * i}, "test", None)
    # One self-contained file: fold the WAL back so that damage to the file is damage to the data.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture()
def corrupt(tmp_path):
    path = _filled(tmp_path / "corrupt.sqlite")
    with path.open("r+b") as fh:  # overwrite one b-tree page past the schema with junk
        fh.seek(4096 * 5)
        fh.write(bytes(range(256)) * 12)
    return path


@pytest.mark.parametrize("readonly", [False, True])
def test_a_corrupt_store_is_named_corrupt_and_not_written(corrupt, readonly):
    before = _digest(corrupt)
    with pytest.raises(StoreCorruptError) as err:
        results_store.open(corrupt, readonly=readonly)
    text = str(err.value)
    assert "corrupt" in text and str(corrupt) in text
    assert "pragma integrity_check" in text and "backup" in text
    assert "\n" not in text
    assert _digest(corrupt) == before


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(StoreError, match="not a results store"):
        results_store.open(junk)
    assert junk.read_bytes() == bytes(range(256)) * 20


def test_paths_that_cannot_be_a_store(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        results_store.open(a_file / "x.sqlite")
    with pytest.raises(StoreError, match="is a folder"):
        results_store.open(tmp_path)
    with pytest.raises(StoreError, match="no results store"):
        results_store.open(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_read_only_opening_reads_and_writes_nothing(tmp_path):
    path = _filled(tmp_path / "s.sqlite", n=5)
    before = _digest(path)
    with results_store.open(path, readonly=True) as db:
        assert len(db.probes()) == 5
        assert len(db.table()) == 0  # probes but no student runs: nothing joined
        with pytest.raises(StoreError, match="read-only"):
            db.add_probe({**_PROBE, "t_stddev": 0.1})
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]  # no -wal/-shm beside it


def test_a_store_the_user_may_not_write_is_refused_for_writing_only(tmp_path, monkeypatch):
    path = _filled(tmp_path / "s.sqlite", n=3)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    with pytest.raises(StoreError, match="read-only"):
        results_store.open(path)
    with results_store.open(path, readonly=True) as db:
        assert len(db.probes()) == 3


def test_ingest_refuses_a_truncated_row_and_any_error_skips_only_its_file(tmp_path):
    from dastat.store.ingest import ingest

    header = "teacher,student,dataset,scheme,test_loss\n"
    (tmp_path / "truncated.csv").write_text(header + "resnet56,resnet20,digits,flip,1.0\nresnet56,resnet20,dig")
    (tmp_path / "huge.csv").write_text(header + f"resnet56,resnet20,digits,flip,1{'9' * 400}\n")
    (tmp_path / "good.csv").write_text(header + "resnet56,resnet20,digits,cutout,1.1\n")
    with results_store.open(tmp_path / "s.sqlite") as db:
        summary = ingest([tmp_path / "truncated.csv", tmp_path / "huge.csv", tmp_path / "good.csv"], db)
        assert [s["path"] for s in summary.skipped] == [str(tmp_path / "truncated.csv"), str(tmp_path / "huge.csv")]
        assert "line 3: the row has 3 cells and the header 5" in summary.skipped[0]["error"]
        assert all(len(s["error"]) <= 400 for s in summary.skipped)
        assert db.students()["scheme"].tolist() == ["cutout"]
