"""The run-level bootstrap: r on scheme means, intervals that carry the runs' noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dastat.errors import DastatError
from dastat.stats import correlate_runs


def _runs(noise_x=0.0, noise_y=0.0, runs=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i, scheme in enumerate(["identity", "flip", "cutout", "mixup", "cutmix", "flip_crop"]):
        for _ in range(runs):
            # A probe is teacher-only: no student in its row.
            rows.append({"dataset": "cifar100", "teacher": "resnet56", "student": None, "scheme": scheme,
                         "kind": "probe", "t_stddev": 0.005 + 1e-4 * i + noise_x * rng.normal(),
                         "s_test_loss": np.nan})
            for student in ("resnet20", "vgg8"):
                rows.append({"dataset": "cifar100", "teacher": "resnet56", "student": student, "scheme": scheme,
                             "kind": "student", "t_stddev": np.nan,
                             "s_test_loss": 1.0 + 0.02 * i + noise_y * rng.normal()})
    return pd.DataFrame(rows)


def test_r_is_computed_on_the_scheme_means():
    runs = _runs(noise_x=3e-5, noise_y=0.01)
    out = correlate_runs(runs, methods=["pearson", "kendall"], n_resamples=200)
    assert set(out["student"]) == {"resnet20", "vgg8"}
    for _, row in out.iterrows():
        probes = runs[runs["kind"] == "probe"].groupby("scheme", sort=False)["t_stddev"].mean()
        students = runs[(runs["kind"] == "student") & (runs["student"] == row["student"])]
        losses = students.groupby("scheme", sort=False)["s_test_loss"].mean()
        fn = sps.pearsonr if row["method"] == "pearson" else sps.kendalltau
        assert row["r"] == pytest.approx(fn(probes, losses[probes.index]).statistic, abs=1e-12)
        assert row["n"] == 6 and row["n_probe_runs"] == 18 and row["n_student_runs"] == 18
        assert row["ci_low"] <= row["r"] <= row["ci_high"]


def test_noise_free_runs_give_a_point_interval():
    out = correlate_runs(_runs(), methods=["pearson"], n_resamples=100)
    np.testing.assert_allclose(out["ci_low"], out["r"], atol=1e-12)
    np.testing.assert_allclose(out["ci_high"], out["r"], atol=1e-12)
    assert (out["frac_same_sign"] == 1.0).all()


def test_more_run_noise_widens_the_interval():
    quiet = correlate_runs(_runs(noise_x=1e-5, noise_y=0.003), methods=["spearman"], n_resamples=500)
    loud = correlate_runs(_runs(noise_x=1e-4, noise_y=0.03), methods=["spearman"], n_resamples=500)
    assert ((loud["ci_high"] - loud["ci_low"]) > (quiet["ci_high"] - quiet["ci_low"])).all()


def test_rows_without_kind_are_split_by_which_value_they_hold():
    runs = _runs(noise_x=3e-5, noise_y=0.01).drop(columns="kind")
    with_kind = correlate_runs(_runs(noise_x=3e-5, noise_y=0.01), methods=["pearson"], n_resamples=50)
    without = correlate_runs(runs, methods=["pearson"], n_resamples=50)
    pd.testing.assert_frame_equal(with_kind, without)


def test_too_few_schemes_is_reported_not_raised():
    runs = _runs()
    runs = runs[runs["scheme"].isin(["identity", "flip"])]
    out = correlate_runs(runs, methods=["pearson"], n_resamples=10)
    assert out["r"].isna().all() and out["reason"].str.contains("fewer than 3 schemes").all()


def test_missing_columns_are_named():
    with pytest.raises(DastatError, match="'scheme'"):
        correlate_runs(_runs().drop(columns="scheme"))
