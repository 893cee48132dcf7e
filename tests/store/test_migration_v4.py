"""Schema v4: the teacher-side predictor columns, and rows_per_set as REAL; older stores migrate."""

from __future__ import annotations

import math
import sqlite3

import pytest

import dastat
from dastat.probe.predictors import NAMES
from dastat.probe.result import ProbeResult
from dastat.store.schema import MIGRATIONS, PREDICTOR_FIELDS, PREDICTOR_NAMES, SCHEMA_VERSION
from dastat.store.store import PREDICTOR_COLUMNS, PROBE_FIELDS

OLD_PROBE = ("INSERT INTO probes (run_id, source, teacher, dataset, scheme, protocol, randomness, set_size, "
             "t_stddev, ci_low, ci_high, n_sets, rows_per_set, mean_entropy_xprime, teacher_acc_xprime{extra}) "
             "VALUES ('old', 'dastat', 'wrn_40_2', 'cifar100', 'cutout', 'fast', 'sample', 640, 0.005, 0.0045, "
             "0.0055, 40, 638.4, 1.25, 0.75{extra_value})")


def _old_store(path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("".join(MIGRATIONS[:version]) + f"PRAGMA user_version = {version};")
    extra = version >= 2
    conn.execute(OLD_PROBE.format(extra=", extra" if extra else "", extra_value=", '{\"k\": 1}'" if extra else ""))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_store_migrates_and_keeps_its_probes(tmp_path, version):
    path = tmp_path / "old.sqlite"
    _old_store(path, version)
    store = dastat.store.open(path)
    assert store.schema_version == SCHEMA_VERSION == 4
    row = store.probes().iloc[0]
    assert (row["t_stddev"], row["n_sets"], row["mean_entropy_xprime"]) == (0.005, 40, 1.25)
    assert row["rows_per_set"] == 638.4
    for column in PREDICTOR_FIELDS:  # no value for predictors the old dastat did not compute
        assert math.isnan(row[column]), column
    conn = sqlite3.connect(path)
    types = {name: kind for _, name, kind, *_ in conn.execute("PRAGMA table_info(probes)")}
    indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                               "AND tbl_name = 'probes' AND name NOT LIKE 'sqlite_%'")}
    conn.close()
    assert types["rows_per_set"] == "REAL" and types["affinity"] == "REAL"
    assert indexes == {"probes_key", "probes_source"}
    if version >= 2:
        assert '"k": 1' in row["extra"]


def test_every_predictor_round_trips_and_reaches_the_table(tmp_path):
    values = {column: 0.25 + i for i, column in enumerate(PREDICTOR_FIELDS)}
    record = {"teacher": "wrn_40_2", "dataset": "cifar100", "scheme": "cutout", "protocol": "fast",
              "randomness": "sample", "set_size": 640, "t_stddev": 0.005, "n_sets": 40, "rows_per_set": 638.4,
              **values}
    store = dastat.store.open(tmp_path / "s.sqlite")
    store.add_probe(record)
    row = store.probes().iloc[0]
    assert {column: row[column] for column in PREDICTOR_FIELDS} == values
    assert row["rows_per_set"] == 638.4
    table = store.table(how="outer")
    for column in ("entropy_xprime", "affinity", "ce_xprime", "consistency", "sharpness"):
        assert table.loc[0, column] == values[column]


def test_the_store_and_the_probe_name_the_same_predictors():
    assert PREDICTOR_NAMES == NAMES
    assert set(PREDICTOR_FIELDS) <= set(PROBE_FIELDS)
    assert set(PREDICTOR_FIELDS) <= set(ProbeResult.__dataclass_fields__)
    assert set(NAMES) <= set(PREDICTOR_COLUMNS)
