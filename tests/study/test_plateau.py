"""The plateau rule: the last 20% of epochs change the test loss by less than 1%."""

from __future__ import annotations

import math

import pandas as pd

from dastat.study import plateau
from dastat.study.plateau import plateau_table


def test_flat_tail_is_a_plateau_and_settled_epoch_is_where_it_began():
    losses = [2.0, 1.0, 0.5, 0.30, 0.200, 0.1995, 0.1992, 0.1991, 0.1990, 0.1990]
    stats = plateau(losses)
    assert stats["is_plateau"] and stats["epochs"] == 10
    # the last 20% (2 epochs) and the epoch before them: 0.1991 .. 0.1990
    assert math.isclose(stats["rel_change"], (0.1991 - 0.1990) / 0.1990)
    assert stats["settled_epoch"] == 5  # 0.200 is within 1% of 0.1990, 0.30 is not


def test_a_loss_still_falling_is_not_a_plateau():
    losses = [1.0, 0.8, 0.6, 0.5, 0.4]
    stats = plateau(losses)
    assert not stats["is_plateau"]
    assert math.isclose(stats["rel_change"], 0.25)
    assert stats["settled_epoch"] == 5


def test_a_single_epoch_cannot_show_a_plateau():
    assert plateau([0.5])["is_plateau"] is False
    assert plateau([])["epochs"] == 0


def test_plateau_table_reads_curves_per_run():
    students = pd.DataFrame({"run_id": ["a", "b"], "teacher": "t", "student": "s", "scheme": ["x", "y"],
                             "seed": [0, 0]})
    curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "epoch": [3, 1, 2, 1, 2, 3],
                           "test_loss": [1.0, 3.0, 1.001, 3.0, 2.0, 1.0]})
    table = plateau_table(students, curves)
    assert table["is_plateau"].tolist() == [True, False]
    assert table["epochs"].tolist() == [3, 3]
