"""predictor_grid renders headless: one panel per pair and predictor, every point, compare_predictors' numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from dastat.errors import InvalidArgumentError
from dastat.plot import predictor_grid, save_figure
from dastat.plot.fig4 import POINTS_GID
from dastat.stats import compare_predictors, load_reference


@pytest.fixture(scope="module")
def table():
    paper = load_reference("paper")
    paper = paper[paper["dataset"] == "cifar100"].reset_index(drop=True)  # 4 pairs keep the test quick
    rng = np.random.default_rng(0)
    # The paper's points with two made-up predictors beside T. stddev (one missing for a scheme).
    table = paper.assign(floor=paper["t_stddev"] * rng.uniform(1.0, 2.0, len(paper)),
                         mean_entropy_xprime=rng.uniform(0.1, 1.0, len(paper)))
    table.loc[0, "floor"] = np.nan
    return table


@pytest.fixture(scope="module")
def grid(table):
    return predictor_grid(table)


def test_returns_a_figure_with_one_panel_per_pair_and_predictor(grid):
    import matplotlib.pyplot as plt

    assert isinstance(grid, Figure) and plt.get_fignums() == []
    assert len([ax for ax in grid.axes if ax.get_visible()]) == 4 * 3


def test_every_finite_point_is_drawn(table, grid):
    drawn = sum(len(c.get_offsets()) for ax in grid.axes for c in ax.collections if c.get_gid() == POINTS_GID)
    assert drawn == 3 * len(table) - 1


def test_titles_print_the_pairs_correlation_and_interval(table, grid):
    corr = compare_predictors(table, methods="pearson", n_resamples=0).correlations
    corr = corr[corr["level"] == "pair"]
    expected = {f"r = {r:+.2f} [{lo:+.2f}, {hi:+.2f}]" for r, lo, hi in corr[["r", "ci_low", "ci_high"]].to_numpy()}
    titles = {ax.get_title() for ax in grid.axes}
    assert titles == expected
    assert all(re.fullmatch(r"r = [+-]\d\.\d\d \[[+-]\d\.\d\d, [+-]\d\.\d\d\]", t) for t in titles)
    assert any("r of its negative" in ax.get_xlabel() for ax in grid.axes)  # entropy enters negated


def test_saves_a_non_blank_png(grid, tmp_path):
    out = save_figure(grid, tmp_path / "grid.png", dpi=40)
    assert np.asarray(Image.open(out).convert("L"), dtype=float).std() > 5


def test_a_method_the_comparison_lacks_is_refused(table):
    comparison = compare_predictors(table, methods="pearson", n_resamples=0)
    with pytest.raises(InvalidArgumentError, match="no per-pair 'kendall'"):
        predictor_grid(table, comparison=comparison, method="kendall")
    with pytest.raises(InvalidArgumentError, match="no rows"):
        predictor_grid(pd.DataFrame(columns=table.columns))


def test_displays_itself_in_a_notebook(grid):
    """Jupyter shows a figure through _repr_png_ (as fig4 and ranking do): PNG bytes, not '<Figure ...>'."""
    assert grid._repr_png_().startswith(b"\x89PNG")
