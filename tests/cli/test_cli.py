"""The command line: help everywhere, JSON output, store records, and errors without tracebacks."""

from __future__ import annotations

import json
import sys

import pytest
import waiting

from dastat.cli import build_parser, main


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_documented_command_is_there():
    expected = {"rank", "probe", "info", "train", "sweep", "ingest", "export", "correlate", "plot", "study", "bench"}
    assert expected <= set(_subcommands())


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("dastat ")


def test_probe_prints_json_and_records_it(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code = main(["probe", "--scheme", "cutout", "--max-sets", "4", "--rtol", "0.5", "--device", "cpu",
                 "--store", str(store), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scheme"] == "cutout" and out["dataset"] == "digits" and out["n_sets"] >= 2
    assert out["ci_low"] <= out["t_stddev"] <= out["ci_high"]
    from dastat import store as results_store

    with results_store.open(store) as db:
        probes = db.probes()
    assert len(probes) == 1 and probes["scheme"].iloc[0] == "cutout"
    assert probes["t_stddev"].iloc[0] == pytest.approx(out["t_stddev"], rel=1e-12)


def test_train_records_the_run_in_the_store(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code = main(["train", "--scheme", "flip", "--epochs", "1", "--device", "cpu", "--store", str(store), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    from dastat import store as results_store

    with results_store.open(store) as db:
        students = db.students()
    assert students["run_id"].tolist() == [out["run_id"]] and students["scheme"].tolist() == ["flip"]


def test_rank_prints_a_ranking_and_writes_a_chart(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code = main(["rank", "--schemes", "identity,mixup,cutout", "--max-sets", "4", "--rtol", "0.5",
                 "--device", "cpu", "--store", str(store)])
    assert code == 0
    text = capsys.readouterr().out
    for scheme in ("identity", "mixup", "cutout"):
        assert scheme in text
    assert "floor" in text
    chart = tmp_path / "rank_digits_resnet8.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path):
    missing = tmp_path / "nowhere" / "ckpt.pth"
    proc = waiting.run([sys.executable, "-m", "dastat", "probe", "--scheme", "flip", "--teacher", str(missing),
                        "--no-record"])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr and "error" in proc.stderr


def test_unknown_scheme_on_the_command_line_suggests_names(capsys):
    code = main(["probe", "--scheme", "mixpu", "--max-sets", "2", "--device", "cpu", "--no-record"])
    assert code == 2
    assert "mixup" in capsys.readouterr().err
