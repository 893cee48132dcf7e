"""ranking(): one bar per scheme, lowest on top, intervals as error bars, headless output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dastat.errors import DastatError
from dastat.plot import ranking, save_figure
from dastat.plot.ranking import BARS_GID


@pytest.fixture
def probe_table():
    return pd.DataFrame({
        "dataset": "cifar100", "teacher": "resnet56",
        "scheme": ["identity", "flip", "cutmix", "mixup", "cutmixpick_t"],
        "t_stddev": [0.00547, 0.00545, 0.00471, 0.00499, 0.00379],
        "ci_low": [0.00540, 0.00538, 0.00465, 0.00490, 0.00372],
        "ci_high": [0.00554, 0.00552, 0.00477, 0.00508, 0.00386],
        "floor": 0.00556,
    })


def test_one_bar_per_scheme_lowest_first(probe_table):
    fig = ranking(probe_table)
    ax = fig.axes[0]
    assert [p.get_gid() for p in ax.patches] == [BARS_GID] * len(probe_table)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "CutmixPick (T. ent.)" and labels[-1] == "Identity"
    widths = sorted(p.get_width() for p in ax.patches)
    np.testing.assert_allclose(widths, sorted(probe_table["t_stddev"]))
    assert ax.get_title() == "resnet56 on cifar100"


def test_png_is_valid_and_not_blank(probe_table, tmp_path):
    path = save_figure(ranking(probe_table), tmp_path / "rank.png", dpi=60)
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert image.std() > 5


def test_works_without_intervals_or_floor(probe_table):
    fig = ranking(probe_table[["scheme", "t_stddev"]])
    assert len(fig.axes[0].patches) == 5


def test_mixed_teachers_and_duplicates_are_refused(probe_table):
    mixed = probe_table.assign(teacher=["a", "b", "a", "a", "a"])
    with pytest.raises(DastatError, match="teacher"):
        ranking(mixed)
    with pytest.raises(DastatError, match="several rows for scheme"):
        ranking(pd.concat([probe_table, probe_table.iloc[:1]]))


def test_duplicates_latest_keeps_the_newest_probe(probe_table):
    older = probe_table.iloc[:1].assign(t_stddev=0.009, created_at="2020-01-01")
    table = pd.concat([older, probe_table.assign(created_at="2024-01-01")], ignore_index=True)
    fig = ranking(table, duplicates="latest")
    assert max(p.get_width() for p in fig.axes[0].patches) == pytest.approx(0.00547)


def test_the_bars_start_at_zero_and_print_their_values():
    table = pd.DataFrame({"scheme": ["identity", "cutmix", "mixup"], "t_stddev": [0.0106, 0.0101, 0.0104],
                          "ci_low": [0.0104, 0.0099, 0.0102], "ci_high": [0.0108, 0.0103, 0.0106]})
    ax = ranking(table).axes[0]
    assert ax.get_xlim()[0] == 0.0  # a bar's length is its value, not its distance from a cut axis
    printed = {t.get_text() for t in ax.texts}
    assert {"0.0106", "0.0101", "0.0104"} <= printed
