"""The store: records in and out, the joined table, migrations, export, concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pandas as pd
import pytest
from waiting import wait_while_progressing

import dastat.store
from dastat.errors import InvalidArgumentError
from dastat.store.schema import MIGRATIONS, SCHEMA_VERSION
from dastat.store.store import PREDICTOR_COLUMNS


def _probe(scheme, t_stddev, protocol="fast", **kw):
    return {"teacher": "wrn_40_2", "dataset": "cifar100", "scheme": scheme, "protocol": protocol,
            "randomness": "sample", "set_size": 640, "t_stddev": t_stddev, "ci_low": t_stddev * 0.9,
            "ci_high": t_stddev * 1.1, "n_sets": 40, **kw}


def _student(scheme, test_loss, seed, **kw):
    return {"teacher": "wrn_40_2", "student": "wrn_16_2", "dataset": "cifar100", "scheme": scheme, "seed": seed,
            "epochs": 240, "epoch_factor": 1, "test_loss": test_loss, "test_acc1": 70.0 + seed,
            "test_acc5": 90.0, "best_test_acc1": 71.0, "best_epoch": 200, "config": {"lr": 0.05}, **kw}


def test_default_path_follows_the_environment(monkeypatch):
    monkeypatch.delenv("DASTAT_STORE", raising=False)
    assert str(dastat.store.default_path()) == "results/dastat.sqlite"
    monkeypatch.setenv("DASTAT_STORE", "/x/y.sqlite")
    assert str(dastat.store.default_path()) == "/x/y.sqlite"


def test_records_round_trip_with_the_promised_columns(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    pid = store.add_probe(_probe("Crop+Flip", np.float32(0.0054), scheme_params={"pad": 4}))
    sid = store.add_student_run(_student("cutout", 1.05, 0, teacher="WRN-40-2"),
                                curve=[{"epoch": e, "test_loss": 2.0 / e, "lr": 0.05} for e in (1, 2)])
    probes, students = store.probes(), store.students()
    assert {"run_id", "teacher", "dataset", "scheme", "protocol", "randomness", "t_stddev", "ci_low", "ci_high",
            "n_sets", "source"} <= set(probes.columns)
    assert {"run_id", "teacher", "student", "dataset", "scheme", "seed", "epochs", "test_loss", "test_acc1",
            "test_acc5", "best_test_acc1", "best_epoch", "source"} <= set(students.columns)
    assert probes.loc[0, "run_id"] == pid and probes.loc[0, "scheme"] == "flip_crop"
    assert probes.loc[0, "t_stddev"] == float(np.float32(0.0054))
    assert np.isnan(probes.loc[0, "t_ce_stddev"])  # not said: NaN, not None
    assert students.loc[0, "run_id"] == sid and students.loc[0, "teacher"] == "wrn_40_2"
    assert store.curves(sid)["test_loss"].tolist() == [2.0, 1.0]


def test_table_carries_the_probes_predictor_columns_averaged_like_t_stddev(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    for t, entropy in ((0.0050, 0.2), (0.0052, 0.4)):
        store.add_probe(_probe("cutout", t, mean_entropy_xprime=entropy, teacher_acc_xprime=0.9, floor=0.01))
    store.add_probe(_probe("mixup", 0.0060, mean_entropy_xprime=0.8))  # other predictors not said: NaN
    for scheme in ("cutout", "mixup"):
        store.add_student_run(_student(scheme, 1.0, 0))
    table = store.table().set_index("scheme")
    assert table.loc["cutout", "mean_entropy_xprime"] == pytest.approx(0.3)
    assert table.loc["cutout", "teacher_acc_xprime"] == pytest.approx(0.9)
    assert table.loc["mixup", "mean_entropy_xprime"] == pytest.approx(0.8)
    assert np.isnan(table.loc["mixup", "floor"])


def test_table_aggregates_seeds_and_never_mixes_protocols(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    for t in (0.0050, 0.0052):
        store.add_probe(_probe("cutout", t))
    store.add_probe(_probe("cutout", 0.9, protocol="paper"))  # must not leak into the fast average
    store.add_probe(_probe("mixup", 0.0060))
    for seed, loss in enumerate((1.00, 1.10, 1.20)):
        store.add_student_run(_student("cutout", loss, seed))
    store.add_student_run(_student("mixup", 1.3, 0))
    store.add_student_run(_student("autoaugment", 1.4, 0))  # no probe: dropped by the inner join
    table = store.table()
    reference_columns = pd.read_csv(pd.io.common.StringIO(
        "dataset,teacher,student,scheme,t_stddev,t_stddev_err,s_test_loss,s_test_loss_err\n")).columns
    assert list(table.columns[: len(reference_columns)]) == list(reference_columns)
    assert list(table.columns[len(reference_columns):]) == ["n_probes", "n_runs", "s_test_acc1", "protocol",
                                                            "randomness", "set_size", *PREDICTOR_COLUMNS,
                                                            "s_randomness"]
    cutout = table.set_index("scheme").loc["cutout"]
    assert cutout["t_stddev"] == pytest.approx(0.0051) and cutout["n_probes"] == 2
    assert cutout["t_stddev_err"] == pytest.approx(np.std([0.0050, 0.0052], ddof=1))
    assert cutout["s_test_loss"] == pytest.approx(1.1) and cutout["n_runs"] == 3
    assert cutout["s_test_loss_err"] == pytest.approx(0.1)
    assert cutout["s_test_acc1"] == pytest.approx(71.0)
    assert sorted(table["scheme"]) == ["cutout", "mixup"]
    assert store.table(how="left")["scheme"].tolist() == ["autoaugment", "cutout", "mixup"]
    paper = store.table(protocol="paper")
    assert paper["t_stddev"].tolist() == [0.9]
    split = store.table(protocol=None)
    assert sorted(split["protocol"]) == ["fast", "fast", "paper"]  # cutout twice (one per protocol), mixup
    with pytest.raises(InvalidArgumentError, match="by must be"):
        store.table(by=("dataset", "colour"))


def test_runs_have_one_row_per_probe_and_student_run(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    store.add_probe(_probe("cutout", 0.005))
    store.add_student_run(_student("cutout", 1.0, 0))
    store.add_student_run(_student("cutout", 1.1, 1))
    runs = store.runs()
    assert runs["kind"].tolist() == ["probe", "student", "student"]
    assert sorted(runs["s_test_loss"].tolist()[1:]) == [1.0, 1.1] and runs["t_stddev"].tolist()[0] == 0.005


def test_a_version_1_store_opens_in_the_current_version(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO students (run_id, source, teacher, student, dataset, scheme, test_loss) "
                 "VALUES ('old', 'dastat', 'vgg13', 'vgg8', 'cifar100', 'mixup', 1.25)")
    conn.commit()
    conn.close()
    store = dastat.store.open(path)
    assert store.schema_version == SCHEMA_VERSION > 1
    assert store.students().loc[0, "test_loss"] == 1.25
    store.add_student_run(_student("mixup", 1.5, 1, extra_field="kept"))  # the v2 'extra' column works
    assert '"extra_field": "kept"' in store.students().loc[1, "extra"]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_writes_each_format(tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    store = dastat.store.open(tmp_path / "s.sqlite")
    store.add_probe(_probe("cutout", 0.005))
    store.add_student_run(_student("cutout", 1.0, 0))
    out = store.export(tmp_path / f"t.{fmt}")
    back = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[fmt](out)
    assert back.loc[0, "t_stddev"] == 0.005 and back.loc[0, "s_test_loss"] == 1.0
    with pytest.raises(InvalidArgumentError, match="format must be one of"):
        store.export(tmp_path / "t.xlsx")


def _writer(path, worker, n):
    store = dastat.store.open(path)
    for i in range(n):
        store.add_probe({**_probe("cutout", 0.005 + i * 1e-6), "run_id": f"p{worker}-{i}"})
        store.add_student_run({**_student("cutout", 1.0 + i, worker), "run_id": f"s{worker}-{i}"},
                              curve=[{"epoch": e, "test_loss": 1.0} for e in (1, 2, 3)])
    store.close()


def test_eight_processes_writing_at_once_lose_nothing(tmp_path):
    path, n = tmp_path / "s.sqlite", 15
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w, n)) for w in range(8)]
    for w in workers:
        w.start()
    wait_while_progressing(workers)
    for w in workers:
        w.join()
        assert w.exitcode == 0
    store = dastat.store.open(path)
    assert sorted(store.probes()["run_id"]) == sorted(f"p{w}-{i}" for w in range(8) for i in range(n))
    assert len(store.students()) == 8 * n and len(store.curves()) == 8 * n * 3
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_normalised_names():
    from dastat.store import normalise_arch, normalise_scheme

    assert normalise_arch("RESNET32X4") == ("resnet32x4", True)
    assert normalise_arch("resnet50") == ("ResNet50", True)
    assert normalise_arch("wrn-40-2") == ("wrn_40_2", True)
    assert normalise_arch("mobilenetv2") == ("MobileNetV2", True)
    assert normalise_arch("VGG13") == ("vgg13", True)
    assert normalise_arch("deit_tiny") == ("deit_tiny", False)
    assert normalise_scheme("crop+flip") == ("flip_crop", True)
    assert normalise_scheme("Crop+Flip") == ("flip_crop", True)
    assert normalise_scheme("AutoAugment") == ("autoaugment", True)
    assert normalise_scheme("autoaug") == ("autoaugment", True)
    assert normalise_scheme("none") == ("identity", True)
    assert normalise_scheme("cutmix_pick", "teacher_entropy") == ("cutmixpick_t", True)
    assert normalise_scheme("cutmix_pick", "student_entropy") == ("cutmixpick_s", True)
    assert normalise_scheme("cutmix_pick_Tentropy") == ("cutmixpick_t", True)
    assert normalise_scheme("cutmix_pick", "kld") == ("cutmix_pick", False)
    assert normalise_scheme("RandAugment") == ("randaugment", True)
    assert normalise_scheme("TrivialAugment") == ("TrivialAugment", False)


def test_a_probe_with_a_fractional_rows_per_set_keeps_it(tmp_path):
    """A set holding a short last batch has fewer rows: the probe reports the mean, e.g. 625.19."""
    store = dastat.store.open(tmp_path / "s.sqlite")
    store.add_probe(_probe("cutout", 0.0123, rows_per_set=625.1875))
    assert store.probes().loc[0, "rows_per_set"] == 625.1875


def test_table_joins_probes_only_to_students_of_the_same_randomness(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    for randomness, loss in (("sample", 0.5), ("batch", 0.9), (None, 0.7)):
        store.add_student_run({"teacher": "t", "student": "s", "dataset": "d", "scheme": "mixup", "seed": 0,
                               "test_loss": loss, "randomness": randomness, "run_id": f"r-{randomness}"})
    for randomness, value in (("sample", 0.013), ("batch", 0.016)):
        store.add_probe({"teacher": "t", "dataset": "d", "scheme": "mixup", "protocol": "fast",
                         "randomness": randomness, "set_size": 640, "t_stddev": value, "run_id": f"p-{randomness}"})
    per_image = store.table(randomness="sample")
    assert sorted(per_image["s_test_loss"]) == [0.5, 0.7]  # the per-batch student is left out; unknown joins
    both = store.table(randomness=None)
    pairs = {(r.randomness, r.s_randomness if isinstance(r.s_randomness, str) else None) for r in both.itertuples()}
    assert pairs == {("sample", "sample"), ("sample", None), ("batch", "batch"), ("batch", None)}
    mixed = store.table(randomness="sample", match_randomness=False)
    assert mixed["s_test_loss"].tolist() == [pytest.approx(0.7)]  # all three students averaged, as before
