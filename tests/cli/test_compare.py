"""``dastat compare``: the committed digits studies side by side, as markdown, JSON and files; bad folders exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dastat.cli import main

STUDIES = Path(__file__).resolve().parents[2] / "results" / "studies"
FOLDERS = [str(STUDIES / "digits"), str(STUDIES / "digits_few")]


def test_compare_prints_the_page_of_the_committed_studies(capsys):
    assert main(["compare", *FOLDERS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Studies compared: digits, digits_few\n")
    assert "| resnet20 → resnet8 | t_stddev | -0.71 [-1.00, -0.19] (−) | +0.95 [+0.62, +1.00] (+) | reverses |" in out


def test_compare_json_with_labels(capsys):
    assert main(["compare", *FOLDERS, "--labels", "whole,few", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["labels"] == ["whole", "few"] and payload["written"] == []
    expected = pd.read_csv(STUDIES / "digits_few" / "scheme_effect.csv")
    few = [row for row in payload["table"] if row["label"] == "few"]
    assert [row["scheme_f"] for row in few] == expected["f"].tolist()
    assert [row["train_images"] for row in payload["table"]] == [None, None, 100, 100]


def test_compare_out_writes_the_page_and_its_tables(tmp_path, capsys):
    out = tmp_path / "digits_vs_few.md"
    assert main(["compare", *FOLDERS, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert out.read_text(encoding="utf-8") == printed.out
    changes = pd.read_csv(tmp_path / "digits_vs_few-changes.csv")
    t_stddev = changes[changes["predictor"] == "t_stddev"].set_index("student")["verdict"]
    assert t_stddev["resnet8"] == "reverses"
    assert len(pd.read_csv(tmp_path / "digits_vs_few-table.csv")) == 4
    assert (tmp_path / "digits_vs_few-best.csv").is_file()
    assert printed.err.count("\n") == 1 and "wrote" in printed.err


def test_compare_refuses_a_folder_that_is_not_a_study(tmp_path, capsys):
    assert main(["compare", FOLDERS[0], str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dastat compare: error: {tmp_path} is not a study's output")
    assert "run dastat study first" in err and "Traceback" not in err and err.count("\n") == 1


def test_compare_refuses_one_folder_and_a_label_count_that_does_not_match(capsys):
    assert main(["compare", FOLDERS[0]]) == 2
    assert "at least 2 study folders" in capsys.readouterr().err
    assert main(["compare", *FOLDERS, "--labels", "one"]) == 2
    assert "one non-empty name per folder" in capsys.readouterr().err
