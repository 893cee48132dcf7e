"""Ingest: a wrong tag can be corrected, a file with no rows says so, messages name the file's own columns."""

from __future__ import annotations

import pandas as pd
import pytest

import dastat.store
from dastat.cli import main
from dastat.errors import UnknownNameError
from dastat.store.ingest import ingest

_POINTS = "dataset,teacher,student,scheme,t_stddev,s_test_loss\ncifar100,resnet56,resnet20,flip,0.01,1.2\n"


def test_the_same_file_with_other_tags_replaces_its_records(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text(_POINTS)
    store = dastat.store.open(tmp_path / "s.sqlite")
    assert ingest([path], store, constants={"protocol": "paper"}).read[0]["status"] == "added"
    assert ingest([path], store, constants={"protocol": "paper"}).read[0]["status"] == "unchanged"
    assert ingest([path], store, constants={"protocol": "fast"}).read[0]["status"] == "replaced"
    assert store.probes()["protocol"].tolist() == ["fast"] and len(store.students()) == 1
    assert ingest([path], store, constants={"protocol": "fast"}, mapping={"t_stddev": "t_stddev"}
                  ).read[0]["status"] == "replaced"  # --map is a tag too
    assert len(store.sources()) == 1


def test_retagging_from_the_command_line(tmp_path, capsys):
    path, store = tmp_path / "points.csv", str(tmp_path / "s.sqlite")
    path.write_text(_POINTS)
    assert main(["ingest", str(path), "--set", "protocol=paper", "--store", store]) == 0
    assert main(["ingest", str(path), "--set", "protocol=fast", "--store", store]) == 0
    assert "replaced" in capsys.readouterr().out.splitlines()[-2]
    with dastat.store.open(store, readonly=True) as db:
        assert db.probes()["protocol"].tolist() == ["fast"]


@pytest.mark.parametrize(("option", "value"), [("--set", "protocl=fast"), ("--map", "loss=test_los")])
def test_a_field_name_that_does_not_exist_is_refused_with_the_nearest(tmp_path, option, value, capsys):
    path = tmp_path / "points.csv"
    path.write_text(_POINTS.replace("s_test_loss", "loss"))
    store = tmp_path / "s.sqlite"
    assert main(["ingest", str(path), option, value, "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" in err and ("'protocol'" in err or "'test_loss'" in err)
    with pytest.raises(UnknownNameError):
        ingest([path], dastat.store.open(tmp_path / "t.sqlite"), constants={"protocl": "fast"})


def test_a_header_only_table_is_skipped_as_holding_no_rows(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text(_POINTS.splitlines()[0] + "\n")
    assert main(["ingest", str(path), "--store", str(tmp_path / "s.sqlite")]) == 1
    out = capsys.readouterr().out
    assert "no rows" in out and "0 file(s) read, 1 skipped" in out


def test_messages_name_the_files_own_columns(tmp_path):
    no_student = tmp_path / "no_student.csv"
    pd.DataFrame({"dataset": ["cifar100"], "teacher": ["resnet56"], "scheme": ["flip"],
                  "s_test_loss": [1.0]}).to_csv(no_student, index=False)
    empty_cell = tmp_path / "empty_cell.csv"
    empty_cell.write_text("dataset,teacher,student,scheme,s_test_loss\ncifar100,resnet56,resnet20,flip,\n")
    summary = ingest([no_student, empty_cell], dastat.store.open(tmp_path / "s.sqlite"))
    errors = [s["error"] for s in summary.skipped]
    assert "needs column(s) ['student']" in errors[0] and "'s_test_loss'" in errors[0]
    assert "'test_loss'" not in errors[0]
    assert "line 2: s_test_loss is empty" in errors[1]


@pytest.mark.parametrize(("suffix", "sep", "said"), [(".csv", ";", "';'"), (".csv", "\t", "tab"),
                                                     (".tsv", ",", "','")])
def test_a_table_separated_otherwise_is_named_so(tmp_path, suffix, sep, said):
    path = tmp_path / f"points{suffix}"
    path.write_text(_POINTS.replace(",", sep))
    summary = ingest([path], dastat.store.open(tmp_path / "s.sqlite"))
    assert f"this file is separated by {said}" in summary.skipped[0]["error"]
