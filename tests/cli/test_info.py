"""``dastat info``: checks --store as the reading commands do, and evaluates the embedded teacher once."""

from __future__ import annotations

import json

import pytest

from dastat import store as results_store
from dastat.cli import main


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DASTAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DASTAT_STORE", raising=False)
    return tmp_path / "cache"


def _info(capsys, *argv: str) -> tuple[int, dict | str]:
    code = main(["info", "--device", "cpu", "--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else captured.err


def test_the_teacher_is_evaluated_once_then_read_from_the_cache(cache, capsys, monkeypatch):
    import dastat.train.evaluate

    calls = []
    real = dastat.train.evaluate.evaluate
    monkeypatch.setattr(dastat.train.evaluate, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = _info(capsys)[1]["embedded_teacher"]
    second = _info(capsys)[1]["embedded_teacher"]
    assert len(calls) == 1 and not first["cached"] and second["cached"]
    assert second["test_acc1"] == first["test_acc1"] and second["n_test"] == first["n_test"] == 360
    assert not _info(capsys, "--recheck")[1]["embedded_teacher"]["cached"] and len(calls) == 2


def test_the_store_is_counted_or_refused_as_the_reading_commands_do(cache, capsys, tmp_path):
    assert _info(capsys)[1]["store"] == {"path": "results/dastat.sqlite", "exists": False}
    with results_store.open(tmp_path / "s.sqlite") as db:
        db.add_probe({"teacher": "resnet8", "dataset": "digits", "scheme": "flip", "t_stddev": 0.01})
    store = _info(capsys, "--store", str(tmp_path / "s.sqlite"))[1]["store"]
    assert store["n_probes"] == 1 and store["n_students"] == 0
    (tmp_path / "junk.sqlite").write_bytes(bytes(range(256)) * 4)
    refused = ((tmp_path / "missing.sqlite", "no results store"), (tmp_path / "junk.sqlite", "not a results store"),
               ("/proc/x", "no results store"))
    for given, said in refused:
        code, err = _info(capsys, "--store", str(given))
        assert code == 2 and said in err
