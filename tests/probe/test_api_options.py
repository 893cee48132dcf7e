"""probe.t_stddev / probe.rank options: the deprecated store= and a max_sets that is only a bound."""

from __future__ import annotations

import pytest

from dastat import probe
from dastat import store as results_store
from dastat.errors import InvalidArgumentError


def test_store_keyword_still_records_into_an_open_store_with_a_deprecation_warning(digits, teacher, tmp_path):
    with results_store.open(tmp_path / "s.sqlite") as db:
        with pytest.warns(DeprecationWarning, match=r"record_probes"):
            result = probe.measure_scheme(teacher, digits, "flip", max_sets=2, min_sets=2, check_every=2, store=db)
        assert db.probes()["t_stddev"].tolist() == [pytest.approx(result.t_stddev)]
        with pytest.warns(DeprecationWarning):
            probe.rank(teacher, digits, ["identity", "flip"], max_sets=2, min_sets=2, check_every=2, store=db)
        assert sorted(db.probes()["scheme"]) == ["flip", "flip", "identity"]


def test_a_store_path_is_refused_before_any_probing_naming_the_runs_layer(digits, teacher, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the probe ran before the store was checked")

    # The probe computes and returns; opening a store by its path is the runs layer's work.
    monkeypatch.setattr(probe.measure, "_run", never)
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidArgumentError, match=r"dastat.runs.record_probes"):
        probe.measure_scheme(teacher, digits, "flip", store=tmp_path / "s.sqlite")


def test_max_sets_is_a_bound_not_an_allocation(digits, teacher):
    # 10^12 sets allocated up front would be ~10^17 bytes; the record grows by rounds instead.
    result = probe.measure_scheme(teacher, digits, "flip", max_sets=10**12, rtol=0.5, min_sets=2, check_every=2)
    assert 2 <= result.n_sets < 100
