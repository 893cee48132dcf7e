"""Students of different distillation methods are kept apart by table() and the default grouping."""

from __future__ import annotations

import pytest

import dastat.store
from dastat import stats


def _probe(scheme, t):
    return {"teacher": "t", "dataset": "d", "scheme": scheme, "seed": 0, "protocol": "fast", "randomness": "sample",
            "set_size": 640, "t_stddev": t, "n_sets": 10}


def _student(scheme, loss, method=None):
    extra = {} if method is None else {"method": method}
    return {"teacher": "t", "student": "s", "dataset": "d", "scheme": scheme, "seed": 0, "epochs": 1,
            "test_loss": loss, "test_acc1": 50.0, **extra}


def test_table_splits_students_by_method_and_joins_each_to_the_probes(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    schemes = ("identity", "flip", "cutout", "mixup")
    for i, scheme in enumerate(schemes):
        store.add_probe(_probe(scheme, 0.01 * (i + 1)))
        store.add_student_run(_student(scheme, 1.0 + i))  # recorded without a method: plain KD
        store.add_student_run(_student(scheme, 2.0 - 0.1 * i, method="crd"))
    table = store.table()
    assert list(table.columns[:5]) == ["dataset", "teacher", "student", "kd_method", "scheme"]
    assert sorted(set(table["kd_method"])) == ["crd", "kd"] and len(table) == 8
    crd = table[table["kd_method"] == "crd"].set_index("scheme")
    assert crd.loc["flip", "s_test_loss"] == pytest.approx(1.9) and crd.loc["flip", "t_stddev"] == pytest.approx(0.02)
    out = stats.correlate(table, methods="spearman", n_resamples=50)
    by_method = out.set_index("kd_method")["r"]
    assert by_method["kd"] == pytest.approx(1.0) and by_method["crd"] == pytest.approx(-1.0)


def test_a_plain_kd_store_keeps_its_table_columns(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    store.add_probe(_probe("flip", 0.01))
    store.add_student_run(_student("flip", 1.0, method="kd"))
    assert "kd_method" not in store.table().columns
