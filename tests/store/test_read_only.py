"""Reading a store writes nothing beside it, and works where nothing can be written (docs/store.md, "Reading")."""

from __future__ import annotations

import hashlib

import pytest
from read_only import read_only_folder

from dastat import store as results_store
from dastat.errors import StoreError

_PROBE = {"teacher": "resnet56", "dataset": "digits", "scheme": "cutout", "protocol": "fast",
          "randomness": "sample", "set_size": 640, "t_stddev": 0.01}


def _store(path, n: int = 3):
    with results_store.open(path) as db:
        for seed in range(n):
            db.add_probe({**_PROBE, "seed": seed})
    return path


def _beside(path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_leaves_no_side_files(tmp_path):
    path = _store(tmp_path / "s.sqlite")
    assert _beside(path) == []  # the writer's last close folded its log back
    before = _digest(path)
    with results_store.open(path, readonly=True) as db:
        assert len(db.probes()) == 3
    assert _beside(path) == [] and _digest(path) == before


@pytest.mark.parametrize("what", ["folder", "file and folder"])
def test_a_store_in_a_read_only_folder_is_read(tmp_path, what):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = _store(folder / "s.sqlite")
    if what == "file and folder":
        path.chmod(0o444)
    before = _digest(path)
    with read_only_folder(folder):
        with results_store.open(path, readonly=True) as db:
            assert len(db.probes()) == 3
        with pytest.raises(StoreError, match="read-only"):
            results_store.open(path)
    assert _beside(path) == [] and _digest(path) == before


def test_a_read_while_a_writer_holds_the_store_sees_its_log(tmp_path):
    path = _store(tmp_path / "s.sqlite", n=1)
    with results_store.open(path) as writer:  # an open writer: its commits sit in the -wal until it closes
        writer.add_probe({**_PROBE, "scheme": "flip"})
        assert (tmp_path / "s.sqlite-wal").stat().st_size > 0
        with results_store.open(path, readonly=True) as db:
            assert sorted(db.probes()["scheme"]) == ["cutout", "flip"]


def test_a_read_overtaken_by_a_writer_reads_the_new_file(tmp_path):
    path = _store(tmp_path / "s.sqlite", n=1)
    with results_store.open(path, readonly=True) as reader:
        assert len(reader.probes()) == 1
        _store(path, n=2)  # a writer adds two and closes: its checkpoint rewrites the file under the reader
        assert len(reader.probes()) == 3


@pytest.mark.parametrize(("content", "message"), [(b"", "is empty, not a results store"),
                                                   (bytes(range(256)) * 8, "not a results store")])
def test_a_file_that_holds_no_store_is_refused_for_reading(tmp_path, content, message):
    path = tmp_path / "s.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=message):
        results_store.open(path, readonly=True)
    assert path.read_bytes() == content and _beside(path) == []


def test_a_store_dropped_unclosed_leaves_no_side_files(tmp_path):
    # An exception passing an open Store drops it unclosed; sqlite3 alone would keep the file open (and its
    # -wal/-shm beside it) until the garbage collector ran.
    db = results_store.open(tmp_path / "s.sqlite")
    db.add_probe(_PROBE)
    assert _beside(tmp_path / "s.sqlite") == ["s.sqlite-shm", "s.sqlite-wal"]
    del db
    assert _beside(tmp_path / "s.sqlite") == []
