"""The inputs a newcomer reported as ending in a traceback: each now ends in one line and exit 2."""

from __future__ import annotations

import pytest

from dastat import store as results_store
from dastat.cli import main


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "A_FILE").write_text("x")
    (tmp_path / "EXISTING_DIR").mkdir()
    (tmp_path / "BINARY_FILE").write_bytes(bytes(range(256)) * 8)
    with results_store.open(tmp_path / "CORRUPT.sqlite") as db, db.transaction() as conn:
        for i in range(1500):
            db._insert_probe(conn, {"teacher": "resnet56", "dataset": "digits", "scheme": "flip",
                                    "t_stddev": 0.01, "seed": i}, "test", None)
    import sqlite3

    conn = sqlite3.connect(tmp_path / "CORRUPT.sqlite")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with (tmp_path / "CORRUPT.sqlite").open("r+b") as fh:
        fh.seek(4096 * 5)
        fh.write(bytes(range(256)) * 12)
    (tmp_path / "X.csv").write_text("teacher,student,dataset,scheme,test_loss\nresnet56,resnet20,digits,flip,1.0\n")
    return tmp_path


REPORTED = [
    ["rank", "--mean", "nan", "nan", "nan"],
    ["rank", "--mean", "nan", "nan", "nan", "--teacher", "A_FILE"],
    ["rank", "--mean", "inf", "0", "0"],
    ["rank", "--std", "inf", "inf", "inf"],
    ["rank", "--std", "1e-30", "1e-30", "1e-30"],
    ["probe", "--scheme", "flip", "--image-size", "100000"],
    ["export", "--store", "CORRUPT.sqlite"],
    ["ingest", "X.csv", "--store", "CORRUPT.sqlite"],
    ["correlate", "--store", "CORRUPT.sqlite"],
    ["export", "--store", "A_FILE/x.sqlite"],
    ["export", "--out", "EXISTING_DIR"],
    ["export", "--out", "/proc/nope/e.csv"],
    ["plot", "--out", "f.png", "--dpi", "0"],
    ["plot", "--out", "f.png", "--dpi", "-5"],
    ["plot", "--out", "f.png", "--dpi", "100000"],
    ["study", "--preset", "BINARY_FILE"],
    ["sweep", "BINARY_FILE"],
    ["train", "--out", "A_FILE"],
    ["train", "--epochs", "1", "--store", "CORRUPT.sqlite"],
    ["ingest", "MISSING_PATH"],
]


@pytest.mark.parametrize("argv", REPORTED, ids=" ".join)
def test_reported_input_ends_in_one_line(argv, files, capsys):
    corrupt = (files / "CORRUPT.sqlite").read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert (files / "CORRUPT.sqlite").read_bytes() == corrupt
    if "CORRUPT.sqlite" in argv:
        assert "corrupt" in err and "pragma integrity_check" in err


def test_a_missing_teacher_is_reported_before_torch_is_imported(tmp_path):
    # A typo used to be reported after 35-55 s of imports and data loading; now the parser reports it.
    import sys

    import waiting

    code = ("import sys; from dastat.cli import main; code = main(['rank', '--teacher', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'pandas' not in sys.modules; sys.exit(code)")
    proc = waiting.run([sys.executable, "-c", code, str(tmp_path / "typo.pth")])
    assert proc.returncode == 2, proc.stderr
    assert "typo.pth' does not exist" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_teacher_at_chance_and_a_capped_wide_interval_are_warned_of(capsys):
    # A teacher normalised into saturation predicts one class (chance), and 3 sets cannot reach --rtol 0.05.
    code = main(["probe", "--scheme", "flip", "--max-sets", "3", "--no-record", "--device", "cpu", "--max-images",
                 "200", "--mean", "0.9", "0.9", "0.9", "--std", "0.001", "0.001", "0.001"])
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: the teacher's top-1 on x is" in err and "near chance for 10 classes" in err
    assert "wider than --rtol 0.05; raise --max-sets" in err


@pytest.mark.parametrize(("argv", "said"), [
    (["correlate", "--csv", "no_teacher.csv", "--n-resamples", "0"],
     "--by names column 'teacher', which the table in --csv no_teacher.csv lacks"),
    (["plot", "--csv", "no_teacher.csv", "--out", "f.png"], "--by names column 'teacher'"),
    (["plot", "--kind", "ranking", "--csv", "probes.csv", "--out", "f.png"],
     "--kind ranking draws one teacher on one dataset, and these probes hold 2 teachers (resnet56, vgg13); "
     "pick one with --teacher NAME"),
    (["study", "--store", "s.sqlite"], "dastat study: error: unrecognized arguments: --store s.sqlite"),
    (["train", "--out", "EMPTY_DIR", "--resume"], "holds no run to continue (no checkpoint.pt)"),
    (["rank", "--arch", "resnet8"], "--arch resnet8 names the architecture of a --teacher checkpoint"),
])
def test_messages_speak_of_options_and_files(argv, said, files, capsys):
    (files / "no_teacher.csv").write_text("dataset,student,scheme,t_stddev,s_test_loss\n"
                                          + "".join(f"digits,resnet8,s{i},0.0{i},1.{i}\n" for i in range(1, 5)))
    (files / "probes.csv").write_text("dataset,teacher,scheme,t_stddev\ndigits,resnet56,flip,0.01\n"
                                      "digits,vgg13,flip,0.02\n")
    (files / "EMPTY_DIR").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "df " not in err and "probe_table" not in err, err
