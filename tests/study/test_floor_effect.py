"""The floor check of a study: which schemes sit below the label-composition floor, and how many mix."""

from __future__ import annotations

import pandas as pd
import pytest

from dastat.study.analysis import floor_effect, mixes


@pytest.mark.parametrize(("scheme", "mixing"), [
    ("mixup", True), ("mixup(alpha=2)", True), ("cutmix(alpha=0.25)", True), ("cutmixpick_s", True),
    ("flip_crop+mixup", True), ("cutout(side=10)", False), ("flip_crop+cutout", False), ("identity", False),
    ("a_name_dastat_cannot_build", False),
])
def test_mixing_is_what_the_scheme_says_of_itself_not_its_name(scheme, mixing):
    assert mixes(scheme) is mixing


def test_parameterised_mixing_schemes_below_the_floor_are_counted():
    schemes = ["identity", "cutout(side=10)", "mixup(alpha=2)", "cutmix(alpha=4)", "flip_crop+mixup"]
    keys = {"dataset": "digits", "teacher": "t", "student": "s"}
    table = pd.DataFrame([{**keys, "scheme": s, "s_test_loss": 0.1 + i / 100, "t_stddev": 0.01 + i / 1000,
                           "floor": 0.0, "t_stddev_rel": 0.0} for i, s in enumerate(schemes)])
    # identity sits at the floor; the other four have intervals wholly under it.
    probes = pd.DataFrame([{"dataset": "digits", "teacher": "t", "scheme": s, "protocol": "fast", "floor": 0.017,
                            "t_stddev_rel": 0.9, "ci_high": 0.018 if s == "identity" else 0.015} for s in schemes])
    [row] = floor_effect(table, probes).to_dict(orient="records")
    assert row["n_below_floor"] == 4 and row["n_mixing_below"] == 3
