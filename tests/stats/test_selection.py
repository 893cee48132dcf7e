"""Does the lowest T. stddev pick the lowest-loss scheme? Regret, rank and the noise rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dastat.stats import load_reference, selection


def _pair(teacher, xs, ys, errs=None):
    n = len(xs)
    return pd.DataFrame({"dataset": "d", "teacher": teacher, "student": "s", "scheme": [f"s{i}" for i in range(n)],
                         "t_stddev": xs, "s_test_loss": ys,
                         "s_test_loss_err": errs if errs is not None else [np.nan] * n})


def test_regret_rank_and_fractions():
    table = pd.concat([
        _pair("good", [1, 2, 3], [0.5, 0.6, 0.7]),                       # picks the best
        _pair("near", [1, 2, 3], [0.62, 0.60, 0.7], errs=[0.01, 0.03, 0.01]),  # 2nd, within noise
        _pair("bad", [1, 2, 3], [0.9, 0.6, 0.7], errs=[0.01, 0.01, 0.01]),     # worst, outside noise
    ], ignore_index=True)
    sel = selection(table)
    pairs = sel.pairs.set_index("teacher")
    assert pairs.loc["near", "regret"] == pytest.approx(0.02)
    assert pairs.loc["near", "chosen_rank"] == 2 and pairs.loc["bad", "chosen_rank"] == 3
    assert list(pairs["within_noise"]) == [True, True, False]  # the best pick is always within noise
    assert sel.frac_best == pytest.approx(1 / 3)
    assert sel.frac_within_noise == pytest.approx(2 / 3)
    assert sel.max_regret == pytest.approx(0.3)


def test_without_errors_the_noise_rule_is_nan_for_a_wrong_pick():
    assert np.isnan(selection(_pair("x", [1, 2, 3], [0.9, 0.6, 0.7])).frac_within_noise)
    sel = selection(load_reference("paper"))
    assert sel.n_pairs == 8 and sel.frac_within_noise == 1.0
    # In every panel of the paper the lowest T. stddev (cutmixpick_t) has the lowest loss.
    assert sel.frac_best == 1.0 and (sel.pairs["chosen"] == "cutmixpick_t").all()


def test_a_tie_in_t_stddev_is_listed_not_broken_by_the_loss():
    sel = selection(_pair("tie", [1, 1, 3], [0.7, 0.5, 0.9]))
    row = sel.pairs.iloc[0]
    assert row["chosen"] == "s0" and row["chosen_tied"] == "s1"
    assert row["regret"] == pytest.approx(0.2)
