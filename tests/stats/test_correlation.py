"""correlate(): numbers against scipy, tidy columns, seeding, and bad input handled as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dastat.errors import DastatError, InvalidArgumentError
from dastat.stats import correlate

SCIPY = {"pearson": sps.pearsonr, "spearman": sps.spearmanr, "kendall": sps.kendalltau}


def _table(n_per_group=(9, 12), seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for g, n in enumerate(n_per_group):
        x = rng.normal(size=n)
        frames.append(pd.DataFrame({"dataset": "d", "teacher": f"t{g}", "student": "s",
                                    "scheme": [f"s{i}" for i in range(n)],
                                    "t_stddev": x, "s_test_loss": 0.6 * x + rng.normal(size=n)}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_r_and_p_equal_scipy_defaults(alternative):
    table = _table()
    out = correlate(table, n_resamples=200, alternative=alternative)
    assert len(out) == 6
    for _, row in out.iterrows():
        g = table[table["teacher"] == row["teacher"]]
        want = SCIPY[row["method"]](g["t_stddev"], g["s_test_loss"], alternative=alternative)
        assert row["r"] == pytest.approx(want.statistic, abs=1e-12)
        assert row["p_value"] == pytest.approx(want.pvalue, rel=1e-10)
        assert row["n"] == len(g)
    # n = 9 is enumerated exactly, n = 12 sampled.
    assert set(out.loc[out["teacher"] == "t0", "perm_method"]) == {"exact"}
    assert set(out.loc[out["teacher"] == "t1", "perm_method"]) == {"monte_carlo"}


def test_columns_are_tidy_and_in_the_documented_order():
    out = correlate(_table(), n_resamples=50)
    assert list(out.columns) == [
        "dataset", "teacher", "student", "x", "y", "method", "n", "n_dropped", "r", "ci_low", "ci_high",
        "ci_method", "p_value", "p_perm", "perm_method", "alternative", "confidence", "n_resamples",
        "seed", "reason"]
    assert set(out["ci_method"]) == {"fisher_z", "bca"}
    assert (out["ci_low"] <= out["r"]).all() and (out["r"] <= out["ci_high"]).all()


def test_same_seed_same_numbers_and_groups_do_not_share_streams():
    table = _table()
    a = correlate(table, n_resamples=300, seed=4)
    b = correlate(table, n_resamples=300, seed=4)
    pd.testing.assert_frame_equal(a, b)
    # Dropping one group leaves the other's bootstrap untouched.
    c = correlate(table[table["teacher"] == "t1"], n_resamples=300, seed=4)
    pd.testing.assert_frame_equal(c.reset_index(drop=True),
                                  a[a["teacher"] == "t1"].reset_index(drop=True))


def test_too_few_points_gives_nan_with_a_reason_naming_the_group():
    table = _table(n_per_group=(2, 9))
    out = correlate(table, n_resamples=50)
    small = out[out["teacher"] == "t0"]
    assert small["r"].isna().all()
    assert small["reason"].str.contains("fewer than 3 points").all()
    assert small["reason"].str.contains("teacher=t0").all()
    assert out.loc[out["teacher"] == "t1", "r"].notna().all()


def test_constant_column_gives_nan_with_a_reason():
    table = _table(n_per_group=(9,))
    table["t_stddev"] = 0.005
    out = correlate(table, n_resamples=50)
    assert out["r"].isna().all()
    assert out["reason"].str.contains("t_stddev is constant").all()


def test_nan_rows_are_dropped_and_counted():
    table = _table(n_per_group=(12,))
    table.loc[[1, 5], "s_test_loss"] = np.nan
    table.loc[7, "t_stddev"] = np.nan
    out = correlate(table, methods=["pearson"], n_resamples=0)
    kept = table.dropna(subset=["t_stddev", "s_test_loss"])
    assert out.loc[0, "n"] == 9 and out.loc[0, "n_dropped"] == 3
    assert out.loc[0, "r"] == pytest.approx(sps.pearsonr(kept["t_stddev"], kept["s_test_loss"]).statistic)


def test_missing_columns_are_named():
    table = _table().drop(columns=["student", "s_test_loss"])
    with pytest.raises(DastatError, match=r"'student'.*'s_test_loss'"):
        correlate(table)


@pytest.mark.parametrize("kwargs", [{"methods": ["pearsn"]}, {"confidence": 1.5}, {"n_resamples": -1},
                                    {"alternative": "both"}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs))):
        correlate(_table(), **kwargs)


def test_by_none_pools_all_rows():
    table = _table()
    out = correlate(table, by=None, methods="kendall", n_resamples=0)
    assert len(out) == 1 and out.loc[0, "n"] == len(table)
