"""ingest -> correlate / plot / export on one store: the probe kind is chosen or named, never silently empty."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dastat.cli import main
from dastat.stats import load_reference


@pytest.fixture()
def paper_store(tmp_path, capsys):
    points = tmp_path / "paper_fig4_points.csv"
    load_reference("paper").to_csv(points, index=False)
    store = tmp_path / "s.sqlite"
    assert main(["ingest", str(points), "--set", "protocol=paper", "--set", "randomness=batch",
                 "--set", "set_size=640", "--store", str(store)]) == 0
    capsys.readouterr()
    return store


def _correlations(argv, capsys) -> pd.DataFrame:
    assert main(["correlate", *argv, "--n-resamples", "0", "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out)["correlations"])
    return rows.sort_values(["dataset", "teacher", "student", "method"]).reset_index(drop=True)


def test_ingested_paper_points_reproduce_the_paper_correlations(paper_store, capsys, tmp_path):
    # The store holds one probe kind (paper, batch, 640): correlate picks it without being told.
    from_store = _correlations(["--store", str(paper_store)], capsys)
    reference = _correlations(["--reference", "paper"], capsys)
    assert len(from_store) == 24
    pd.testing.assert_frame_equal(from_store[["dataset", "teacher", "student", "method", "n", "r", "p_value"]],
                                  reference[["dataset", "teacher", "student", "method", "n", "r", "p_value"]])
    out = tmp_path / "fig4.png"
    assert main(["plot", "--store", str(paper_store), "--out", str(out), "--dpi", "40"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["correlate", "plot", "export"])
def test_a_table_that_joins_nothing_names_what_would_join(paper_store, command, capsys, tmp_path):
    out = tmp_path / "x.png"
    extra = {"plot": ["--out", str(out)], "export": ["--out", str(tmp_path / "t.csv")]}.get(command, [])
    assert main([command, "--store", str(paper_store), "--protocol", "fast", *extra]) == 2
    err = capsys.readouterr().err
    assert "protocol paper, randomness batch, set size 640 (72 probes)" in err
    assert "--protocol paper" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "t.csv").exists()


def test_an_empty_store_says_it_holds_nothing(tmp_path, capsys):
    from dastat import store as results_store

    results_store.open(tmp_path / "empty.sqlite").close()
    assert main(["correlate", "--store", str(tmp_path / "empty.sqlite")]) == 2
    assert "holds no probe results" in capsys.readouterr().err


def test_export_keeps_integer_columns_integers(paper_store, tmp_path, capsys):
    out = tmp_path / "table.csv"
    assert main(["export", "--store", str(paper_store), "--out", str(out)]) == 0
    text = out.read_text()
    header, first = (line.split(",") for line in text.splitlines()[:2])
    assert first[header.index("set_size")] == "640" and "640.0" not in text
    assert main(["export", "--store", str(paper_store), "--what", "probes", "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["set_size"].dtype.kind == "i"
