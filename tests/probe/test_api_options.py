"""probe.t_stddev / probe.rank options: store= (checked before the probe) and a max_sets that is only a bound."""

from __future__ import annotations

import pytest

from dastat import probe
from dastat import store as results_store
from dastat.errors import StoreError


def test_results_are_recorded_in_a_store_given_by_object_or_path(digits, teacher, tmp_path):
    path = tmp_path / "s.sqlite"
    with results_store.open(path) as db:
        result = probe.t_stddev(teacher, digits, "flip", max_sets=2, min_sets=2, check_every=2, store=db)
        assert db.probes()["t_stddev"].tolist() == [pytest.approx(result.t_stddev)]
    probe.rank(teacher, digits, ["identity", "flip"], max_sets=2, min_sets=2, check_every=2, store=path)
    with results_store.open(path, readonly=True) as db:
        assert sorted(db.probes()["scheme"]) == ["flip", "flip", "identity"]


def test_a_bad_store_path_is_refused_before_any_probing(digits, teacher, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the probe ran before the store was checked")

    monkeypatch.setattr(probe.measure, "_run", never)
    (tmp_path / "junk.sqlite").write_bytes(b"\x00\x01junk" * 100)
    with pytest.raises(StoreError, match="not a results store"):
        probe.t_stddev(teacher, digits, "flip", store=tmp_path / "junk.sqlite")


def test_max_sets_is_a_bound_not_an_allocation(digits, teacher):
    # 10^12 sets allocated up front would be ~10^17 bytes; the record grows by rounds instead.
    result = probe.t_stddev(teacher, digits, "flip", max_sets=10**12, rtol=0.5, min_sets=2, check_every=2)
    assert 2 <= result.n_sets < 100
