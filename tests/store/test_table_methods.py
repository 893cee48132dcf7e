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


def test_selection_and_the_predictor_head_to_head_keep_methods_apart_with_the_stores_runs(tmp_path):
    # store.students() and store.runs() name the method `method`; the tables' key is `kd_method`.
    store = dastat.store.open(tmp_path / "s.sqlite")
    schemes = ("identity", "flip", "cutout", "mixup")
    for i, scheme in enumerate(schemes):
        store.add_probe({**_probe(scheme, 0.01 * (i + 1)), "t_ce_stddev": 0.1 * (4 - i)})
        for seed in (0, 1):
            store.add_student_run({**_student(scheme, 1.0 + i + 0.01 * seed), "seed": seed})
            store.add_student_run({**_student(scheme, 2.0 - 0.1 * i + 0.01 * seed, method="crd"), "seed": seed})
    table = store.table()
    picks = stats.selection(table, runs=store.students()).pairs.set_index("kd_method")
    assert picks.loc["kd", "best"] == "identity" and picks.loc["crd", "best"] == "mixup"
    assert (picks["n_seeds"] == 2).all()
    runs = store.runs()
    assert set(runs.loc[runs["kind"] == "student", "method"].fillna("kd")) == {"kd", "crd"}
    comparison = stats.compare_predictors(table, ["t_stddev", "t_ce_stddev"], runs=runs, methods=("spearman",),
                                          n_resamples=20)
    pair = comparison.correlations[comparison.correlations["level"] == "pair"]
    r = pair[pair["predictor"] == "t_stddev"].set_index("kd_method")["r"]
    assert r["kd"] == pytest.approx(1.0) and r["crd"] == pytest.approx(-1.0)
