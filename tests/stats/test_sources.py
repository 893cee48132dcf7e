"""read_results(): one source at a time; the store is read through its public table(), faked here."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

from dastat.errors import DastatError, InvalidArgumentError
from dastat.stats import load_reference, read_results
from dastat.stats.sources import select_rows


def test_reference_and_csv_sources(tmp_path):
    csv = tmp_path / "t.csv"
    load_reference("paper").to_csv(csv, index=False)
    pd.testing.assert_frame_equal(read_results(csv=csv), read_results(reference="paper"))


def test_two_sources_are_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="one source"):
        read_results(csv=tmp_path / "a.csv", reference="paper")


def test_unknown_reference_suggests_the_known_one():
    with pytest.raises(DastatError, match="paper"):
        read_results(reference="papr")


def test_store_source_reads_the_named_view(monkeypatch):
    # A stand-in for dastat.store, so this test does not depend on the store's implementation.
    opened = []

    class FakeStore:
        def table(self, **kind):
            assert kind == {"protocol": "paper", "randomness": "batch", "set_size": 640}
            return load_reference("paper")

        def probes(self):
            return pd.DataFrame({"protocol": ["paper"], "randomness": ["batch"], "set_size": [640.0],
                                 "t_stddev": [0.01]})

        def runs(self):
            return pd.DataFrame({"kind": ["probe"]})

        def close(self):
            opened.append("closed")

    fake = types.ModuleType("dastat.store")
    fake.open = lambda path=None, readonly=False: opened.append((path, readonly)) or FakeStore()
    monkeypatch.setitem(sys.modules, "dastat.store", fake)
    assert len(read_results(store="x.sqlite")) == 72
    assert list(read_results(store="x.sqlite", view="runs")["kind"]) == ["probe"]
    assert opened == [("x.sqlite", True), "closed", ("x.sqlite", True), "closed"]


def test_select_rows_names_the_known_values():
    with pytest.raises(InvalidArgumentError, match="resnet56"):
        select_rows(load_reference("paper"), teacher="resnet99")
    assert len(select_rows(load_reference("paper"), dataset="cifar100", teacher=None)) == 36
