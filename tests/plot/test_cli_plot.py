"""`dastat plot` and `dastat correlate` from the command line, on bundled and CSV sources."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from dastat.cli import main
from dastat.stats import load_reference


def test_plot_reference_paper_writes_a_png(tmp_path, capsys):
    out = tmp_path / "fig4.png"
    assert main(["plot", "--reference", "paper", "--out", str(out), "--dpi", "50"]) == 0
    assert np.asarray(Image.open(out).convert("L"), dtype=float).std() > 5
    assert "wrote" in capsys.readouterr().out


def test_plot_ranking_from_a_csv(tmp_path):
    csv = tmp_path / "probes.csv"
    pd.DataFrame({"scheme": ["identity", "cutmix"], "t_stddev": [0.0055, 0.0047]}).to_csv(csv, index=False)
    out = tmp_path / "rank.svg"
    assert main(["plot", "--kind", "ranking", "--csv", str(csv), "--out", str(out)]) == 0
    assert b"<svg" in out.read_bytes()[:2000]


def test_correlate_reference_paper_json(capsys):
    assert main(["correlate", "--reference", "paper", "--n-resamples", "0", "--dataset", "cifar100",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["correlations"]
    assert len(rows) == 12
    assert rows[0]["printed"] == "0.9581 (p-value: 0.00%)"


def test_correlate_csv_with_pooled_and_selection(tmp_path, capsys):
    csv = tmp_path / "table.csv"
    load_reference("paper").to_csv(csv, index=False)
    assert main(["correlate", "--csv", str(csv), "--n-resamples", "0", "--methods", "kendall",
                 "--pooled", "--selection"]) == 0
    text = capsys.readouterr().out
    assert "0.8889 (p-value: 0.02%)" in text and "meta_fisher_z_pearson" in text and "100% of 8 pairs" in text


def test_correlate_predictors_all_compares_every_known_column(tmp_path, capsys):
    csv = tmp_path / "table.csv"
    paper = load_reference("paper")
    # A second predictor for the test: the paper's points carry only t_stddev.
    paper.assign(floor=paper["t_stddev"] + np.random.default_rng(0).normal(0, 2e-4, len(paper))).to_csv(csv)
    assert main(["correlate", "--csv", str(csv), "--n-resamples", "0", "--methods", "pearson",
                 "--predictors", "all", "--json"]) == 0
    differences = json.loads(capsys.readouterr().out)["predictors"]["differences"]
    assert {(d["predictor_a"], d["predictor_b"]) for d in differences} == {("t_stddev", "floor")}
    assert {d["test"] for d in differences} == {"williams_t", "steiger_z", "joint_bootstrap_schemes",
                                                "random_effects_steiger_z"}  # 8 pairs: random effects too
    assert main(["correlate", "--csv", str(csv), "--n-resamples", "0", "--predictors", "t_stddev"]) == 2
    assert "at least two columns" in capsys.readouterr().err
    out = tmp_path / "predictors.png"
    assert main(["plot", "--kind", "predictors", "--csv", str(csv), "--out", str(out), "--dpi", "30"]) == 0
    assert np.asarray(Image.open(out).convert("L"), dtype=float).std() > 5


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["correlate", "--csv", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plot", "--reference", "paper", "--out", str(tmp_path / "x.gif")]) == 2
    assert main(["correlate", "--reference", "paper", "--teacher", "resnet99"]) == 2
    assert "resnet56" in capsys.readouterr().err
