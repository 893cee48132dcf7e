"""Resampling helpers: weighted coefficients equal the expanded resample; data seeds ignore row order."""

from __future__ import annotations

import numpy as np
import pytest

from dastat.stats.coefficients import coefficient
from dastat.stats.resampling import (
    canonical_order,
    data_rng,
    fixed_effect_draws,
    joint_counts,
    joint_layout,
    weighted_coefficient,
)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_weighted_coefficient_equals_the_coefficient_of_the_expanded_resample(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    y = x + rng.normal(size=8)
    x[2] = x[3]  # a tie
    w = joint_counts(8, 60, rng)
    got = weighted_coefficient(method, x, y, w)
    expanded = [coefficient(method, np.repeat(x, k.astype(int)), np.repeat(y, k.astype(int)))[0] for k in w]
    assert got == pytest.approx(np.array(expanded), abs=1e-12, nan_ok=True)


def test_data_rng_depends_on_the_data_and_not_on_their_order():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=10), rng.normal(size=10)
    perm = rng.permutation(10)
    o1, o2 = canonical_order(x, y), canonical_order(x[perm], y[perm])
    a = data_rng(0, "p", x[o1], y[o1]).random(3)
    b = data_rng(0, "p", x[perm][o2], y[perm][o2]).random(3)
    assert (a == b).all()
    assert not (a == data_rng(1, "p", x[o1], y[o1]).random(3)).all()
    assert not (a == data_rng(0, "p", x[o1], y[o1] + 1e-9).random(3)).all()


def test_joint_draws_of_identical_groups_equal_one_group():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=9), rng.normal(size=9)
    units = np.array([f"s{i}" for i in range(9)])
    union, index = joint_layout([units, units])
    two = fixed_effect_draws("spearman", [[(x, y)], [(x, y)]], index, len(union), np.array([9.0, 9.0]),
                             np.random.default_rng(3), 200)
    one = fixed_effect_draws("spearman", [[(x, y)]], index[:1], len(union), np.array([9.0]),
                             np.random.default_rng(3), 200)
    assert two == pytest.approx(one, nan_ok=True)
