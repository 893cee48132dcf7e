"""The notebooks run top to bottom with no edits, and are committed without outputs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_both_notebooks_are_present():
    assert [p.name for p in NOTEBOOKS] == ["01_rank_schemes.ipynb", "02_correlation_plots.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("DASTAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - started
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # A figure cell shows the figure, not only its repr ("<Figure size 600x500 with 1 Axes>").
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and any(
        re.match(r"<\w*Figure size", o.get("data", {}).get("text/plain", "")) for o in c.outputs)]
    assert figure_cells, f"{path.name}: no cell returned a figure"
    for cell in figure_cells:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"no image for: {cell.source[:60]!r}"
    print(f"{path.name}: {elapsed:.0f} s")
