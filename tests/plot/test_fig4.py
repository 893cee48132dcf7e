"""fig4 renders headless; every point is drawn; titles print correlate's numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from PIL import Image

from dastat.errors import DastatError
from dastat.plot import fig4, save_figure
from dastat.plot.fig4 import POINTS_GID
from dastat.stats import correlate, format_printed, load_reference


@pytest.fixture(scope="module")
def paper():
    return load_reference("paper")


@pytest.fixture(scope="module")
def paper_fig(paper):
    return fig4(paper)


def _drawn_points(fig: Figure) -> int:
    return sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections if c.get_gid() == POINTS_GID)


def test_returns_a_figure_without_touching_pyplot(paper_fig):
    import matplotlib.pyplot as plt

    assert isinstance(paper_fig, Figure)
    assert plt.get_fignums() == []


def test_one_panel_per_pair_and_every_point_drawn(paper, paper_fig):
    visible = [ax for ax in paper_fig.axes if ax.get_visible()]
    assert len(visible) == 8
    assert _drawn_points(paper_fig) == len(paper) == 72


def test_titles_print_correlates_numbers(paper, paper_fig):
    table = correlate(paper, n_resamples=0)
    names = {"Pearson": "pearson", "Spearman": "spearman", "Kendall": "kendall"}
    checked = 0
    for ax in paper_fig.axes:
        head, *lines = ax.get_title().split("\n")
        dataset, teacher, student = re.match(r"(\S+): (\S+) → (\S+)", head).groups()
        for line in lines:
            name, text = line.split(": ", 1)
            row = table[(table["dataset"] == dataset) & (table["teacher"] == teacher)
                        & (table["student"] == student) & (table["method"] == names[name])].iloc[0]
            assert text == format_printed(row["r"], row["p_value"])
            checked += 1
    assert checked == 24
    # The paper's first panel, as printed.
    assert "Pearson: 0.9581 (p-value: 0.00%)" in paper_fig.axes[0].get_title()


def test_legend_uses_the_papers_names(paper_fig):
    labels = [t.get_text() for t in paper_fig.legends[0].get_texts()]
    assert labels == ["Identity", "Flip", "Crop+Flip", "Cutout", "AutoAugment", "Mixup", "CutMix",
                      "CutmixPick (S. ent.)", "CutmixPick (T. ent.)"]


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_saved_file_is_a_valid_non_blank_image(paper_fig, tmp_path, suffix):
    path = save_figure(paper_fig, tmp_path / f"fig4.{suffix}", dpi=60)
    data = path.read_bytes()
    if suffix == "png":
        image = np.asarray(Image.open(path).convert("L"), dtype=float)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 5 and (image < 128).mean() > 0.005  # ink on the page, not a blank canvas
    elif suffix == "svg":
        assert b"<svg" in data[:2000] and data.count(b"<path") > 72
    else:
        assert data.startswith(b"%PDF") and len(data) > 5000


def test_error_bars_are_drawn_when_err_columns_hold_values(paper):
    one = paper[paper["teacher"] == "resnet56"].copy()
    one["s_test_loss_err"] = 0.01
    fig = fig4(one)
    bars = [c for ax in fig.axes for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert sum(len(c.lines[2][0].get_segments()) for c in bars) == len(one)
    assert not [c for ax in fig4(paper[paper["teacher"] == "resnet56"]).axes for c in ax.containers
                if isinstance(c, ErrorbarContainer)]


def test_given_correlations_are_printed_verbatim(paper):
    one = paper[paper["teacher"] == "vgg13"]
    table = correlate(one, methods=["kendall"], n_resamples=0)
    table.loc[:, "r"] = 0.1234
    fig = fig4(one, correlations=table, methods=["kendall"])
    assert fig.axes[0].get_title().endswith("Kendall: 0.1234 (p-value: " + f"{100 * table['p_value'].iloc[0]:.2f}%)")


def test_bad_input_is_reported():
    with pytest.raises(DastatError, match="'scheme'"):
        fig4(pd.DataFrame({"dataset": ["a"], "teacher": ["t"], "student": ["s"], "t_stddev": [1.0],
                           "s_test_loss": [1.0]}))
    with pytest.raises(DastatError, match=r"\.png"):
        save_figure(Figure(), "fig.jpg")
