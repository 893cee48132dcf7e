"""Ingest as a whole: nothing lost, nothing doubled, one file = one transaction, clear refusals, CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
from waiting import wait_while_progressing

import dastat.store
from dastat.cli import main
from dastat.store.ingest import ingest


def _csv(path, n=4, loss=1.0):
    rows = [{"dataset": "cifar100", "teacher": "vgg13", "student": "vgg8", "scheme": "Crop+Flip", "seed": i,
             "test_loss": loss + i / 100, "test_acc1": 70 + i} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_same_file_twice_adds_nothing_and_a_changed_file_replaces(tmp_path):
    store = dastat.store.open(tmp_path / "s.sqlite")
    path = _csv(tmp_path / "runs.csv")
    assert ingest([path], store).read[0]["status"] == "added"
    assert ingest([path], store).read[0]["status"] == "unchanged"
    assert len(store.students()) == 4
    copy = tmp_path / "copy" / "runs.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert ingest([copy], store).read[0]["status"] == "unchanged"  # same content elsewhere: not doubled
    _csv(path, n=2, loss=2.0)
    assert ingest([path], store).read[0]["status"] == "replaced"
    students = store.students()
    assert sorted(students["test_loss"]) == [2.0, 2.01] and len(store.sources()) == 1


def test_fig4_reference_points_round_trip_through_the_table(tmp_path, shared_dir):
    reference = pd.read_csv(shared_dir / "reference" / "paper_fig4_points.csv")
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([shared_dir / "reference" / "paper_fig4_points.csv"], store,
                     constants={"protocol": "paper", "randomness": "batch", "set_size": "640"})
    assert summary.exit_code == 0 and summary.unknown_names == {}
    table = store.table(protocol="paper", randomness="batch")
    keys = ["dataset", "teacher", "student", "scheme"]
    merged = table.merge(reference, on=keys, suffixes=("", "_ref"))
    assert len(merged) == len(reference) == 72
    assert (merged["t_stddev"] == merged["t_stddev_ref"]).all()
    assert (merged["s_test_loss"] == merged["s_test_loss_ref"]).all()
    # --set randomness=batch names the students' randomness too: they join per-batch probes only.
    assert set(store.students()["randomness"]) == {"batch"}
    assert store.table(protocol="paper", randomness="sample").empty


def test_table_with_map_and_set(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"arch_t": ["resnet56"], "arch_s": ["resnet20"], "aug": ["cutmix"], "loss": [1.5]}).to_csv(path)
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([path], store, mapping={"arch_t": "teacher", "arch_s": "student", "aug": "scheme",
                                             "loss": "test_loss"}, constants={"dataset": "cifar100"})
    assert summary.exit_code == 0
    row = store.students().iloc[0]
    assert (row["teacher"], row["student"], row["scheme"], row["dataset"], row["test_loss"]) == \
        ("resnet56", "resnet20", "cutmix", "cifar100", 1.5)


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_read(tmp_path):
    good = _csv(tmp_path / "good.csv")
    no_column = tmp_path / "no_teacher.csv"
    pd.DataFrame({"student": ["vgg8"], "dataset": ["cifar100"], "scheme": ["flip"], "test_loss": [1.0]}).to_csv(
        no_column, index=False)
    nan_row = tmp_path / "nan.csv"
    _csv(nan_row)
    nan_row.write_text(nan_row.read_text().replace("1.02,", "nan,"))
    unknown = tmp_path / "notes.bin"
    unknown.write_bytes(b"\x00\x01binary")
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([no_column, good, nan_row, unknown, tmp_path / "missing.csv"], store)
    errors = {os.path.basename(s["path"]): s["error"] for s in summary.skipped}
    assert "needs column(s) ['teacher']" in errors["no_teacher.csv"] and "--set" in errors["no_teacher.csv"]
    assert "line 4: test_loss should be a finite number" in errors["nan.csv"]
    assert "unknown format" in errors["notes.bin"]
    assert "no such file" in errors["missing.csv"]
    assert [os.path.basename(r["path"]) for r in summary.read] == ["good.csv"]
    assert len(store.students()) == 4 and summary.exit_code == 1


def test_dastat_jsonl_records(tmp_path):
    path = tmp_path / "run1" / "records.jsonl"
    path.parent.mkdir()
    student = {"teacher": "resnet56", "teacher_checksum": "ab" * 32, "student": "resnet20", "dataset": "digits",
               "scheme": "cutout", "scheme_params": {"side": 8}, "seed": 3, "epochs": 2, "epoch_factor": 1.0,
               "test_loss": 0.25, "test_acc1": 93.5, "test_acc5": 99.9, "best_test_acc1": 94.0,
               "best_test_loss": 0.24, "best_epoch": 1, "train_loss": 0.3, "elapsed_s": 12.5,
               "dastat_version": "0.1.0", "created_at": "2025-01-01T00:00:00+00:00", "config": {"lr": 0.05}}
    probe = {"teacher": "resnet56", "teacher_checksum": "ab" * 32, "dataset": "digits", "scheme": "cutout",
             "scheme_params": {}, "protocol": "fast", "randomness": "sample", "set_size": 640, "seed": 0,
             "t_stddev": 0.0123, "ci_low": 0.011, "ci_high": 0.013, "n_sets": 30, "rows_per_set": 640,
             "n_teacher_forwards": 19200, "t_ce_stddev": 0.02, "mean_entropy_x": 0.1, "mean_entropy_xprime": 0.2,
             "teacher_acc_x": 0.99, "teacher_acc_xprime": 0.95, "floor": 0.01, "t_stddev_rel": 1.23,
             "normalisation": {"mean": [0.5] * 3, "std": [0.25] * 3}, "elapsed_s": 1.5,
             "dastat_version": "0.1.0", "created_at": "2025-01-01T00:00:00+00:00"}
    epochs = [{"kind": "epoch", "epoch": e, "test_loss": 0.5 / e, "test_acc1": 90.0 + e, "test_acc5": 99.0,
               "train_loss": 0.4, "lr": 0.05, "wall_s": 6.0 * e} for e in (1, 2)]
    lines = [*epochs, {"kind": "student", **student}, {"kind": "probe", **probe}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = dastat.store.open(tmp_path / "s.sqlite")
    assert ingest([tmp_path], store).exit_code == 0
    s, p = store.students().iloc[0], store.probes().iloc[0]
    for key, value in student.items():
        expected = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
        assert s[key] == expected, key
    for key, value in probe.items():
        expected = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
        assert p[key] == expected, key
    curve = store.curves()
    assert curve["test_loss"].tolist() == [0.5, 0.25] and curve["wall_s"].tolist() == [6.0, 12.0]
    path.write_text(path.read_text() + '{"kind": "probe", "t_std')  # a truncated last line
    summary = ingest([path], store)
    assert "line 5: expected one JSON object per line (the file is truncated)" in summary.skipped[0]["error"]


def test_the_trainers_records_file_is_read(tmp_path):
    from dastat.train.result import write_records

    curve = [{"epoch": e, "test_loss": 1.0 / e, "test_acc1": 50.0 + e, "test_acc5": 90.0, "train_loss": 1.0,
              "lr": 0.05, "wall_s": float(e)} for e in (1, 2, 3)]
    final = {"teacher": "resnet20", "student": "resnet8", "dataset": "digits", "scheme": "flip", "seed": 0,
             "epochs": 3, "test_loss": 1.0 / 3, "test_acc1": 53.0, "test_acc5": 90.0, "config": {"lr": 0.05}}
    write_records(tmp_path, curve, final)
    store = dastat.store.open(tmp_path / "s.sqlite")
    assert ingest([tmp_path], store).exit_code == 0
    assert store.students().loc[0, "test_acc1"] == 53.0
    assert store.curves()["test_loss"].tolist() == [1.0, 0.5, 1.0 / 3]


def test_cli_exit_codes(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    good = _csv(tmp_path / "good.csv")
    assert main(["ingest", str(good), "--store", store]) == 0
    assert "1 file(s) read, 0 skipped" in capsys.readouterr().out
    # A path named on the command line that does not exist is a usage error, as for every command.
    assert main(["ingest", str(good), str(tmp_path / "nope.csv"), "--store", store, "--json"]) == 2
    assert "nope.csv' does not exist" in capsys.readouterr().err
    assert main(["ingest", str(good), "--store", store, "--set", "oops"]) == 2
    assert main(["ingest", "--store", store]) == 2
    assert main(["export", "--store", store, "--what", "students", "--out", str(tmp_path / "o.json"),
                 "--format", "json"]) == 0
    assert len(pd.read_json(tmp_path / "o.json")) == 4


_PAUSE_INSIDE_TRANSACTION = """
import sys, time
from pathlib import Path
import dastat.store
from dastat.store.ingest import ingest
from dastat.store.store import Store

store_path, csv_path, marker, pause_after = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
original, calls = Store._insert_student, [0]

def insert_then_pause(self, conn, *args):
    calls[0] += 1
    if calls[0] == pause_after:  # rows are written, the transaction is still open: say so, then wait
        marker.write_text(str(calls[0]))
        time.sleep(600)
    return original(self, conn, *args)

Store._insert_student = insert_then_pause
ingest([csv_path], dastat.store.open(store_path))
"""


def test_kill_inside_the_open_transaction_leaves_nothing_of_that_file(tmp_path):
    """The child stops *inside* the transaction after writing 15,000 of 20,000 rows; a SIGKILL there
    must leave the store as it was before (the uncommitted rows that reached the WAL are ignored)."""
    store_path = tmp_path / "s.sqlite"
    kept = _csv(tmp_path / "kept.csv", n=3)
    assert main(["ingest", str(kept), "--store", str(store_path)]) == 0
    n = 20000
    big = tmp_path / "big.csv"
    pd.DataFrame({"dataset": "cifar100", "teacher": "vgg13", "student": "vgg8", "scheme": "mixup",
                  "seed": range(n), "test_loss": 2.0, "run_id": [f"b-{i}" for i in range(n)]}).to_csv(big, index=False)
    marker = tmp_path / "inside"
    wal = store_path.with_name(store_path.name + "-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    proc = subprocess.Popen([sys.executable, "-c", _PAUSE_INSIDE_TRANSACTION, str(store_path), str(big), str(marker),
                             "15000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_while_progressing([proc], until=marker.exists)
    assert marker.exists(), proc.stderr.read().decode()
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    # Pages of the uncommitted rows had spilled into the WAL on disk when the kill landed.
    assert wal_bytes > wal_before + 100_000, (wal_before, wal_bytes)
    conn = sqlite3.connect(store_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM students").fetchone()[0] == 3  # only the earlier file
    assert conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 1
    conn.close()
    assert main(["ingest", str(big), "--store", str(store_path)]) == 0
    assert len(dastat.store.open(store_path).students()) == n + 3


def test_killed_mid_ingest_leaves_whole_files_or_none(tmp_path):
    big = []
    for k in range(3):
        path = tmp_path / f"big{k}.csv"
        n = 20000
        pd.DataFrame({"dataset": "cifar100", "teacher": "vgg13", "student": "vgg8", "scheme": "mixup",
                      "seed": range(n), "test_loss": [1.0 + k] * n,
                      "run_id": [f"f{k}-{i}" for i in range(n)]}).to_csv(path, index=False)
        big.append(str(path))
    store_path = tmp_path / "s.sqlite"
    dastat.store.open(store_path).close()
    outcomes = set()
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "dastat", "ingest", *big, "--store", str(store_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        conn = sqlite3.connect(store_path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = dict(conn.execute("SELECT test_loss, COUNT(*) FROM students GROUP BY test_loss").fetchall())
        sources = conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
        conn.close()
        assert set(counts.values()) <= {20000}, counts  # each file whole, or absent
        assert sources == len(counts)
        outcomes.add(len(counts))
    # and a clean run afterwards completes the rest without doubling anything
    assert main(["ingest", *big, "--store", str(store_path)]) == 0
    assert len(dastat.store.open(store_path).students()) == 60000
