"""Pooled models across pairs, each number against statsmodels fitted directly here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.meta_analysis import combine_effects

from dastat.errors import InvalidArgumentError
from dastat.stats import load_reference, meta_analysis, pooled


@pytest.fixture(scope="module")
def paper():
    table = load_reference("paper")
    table = table.assign(pair=table[["dataset", "teacher", "student"]].astype(str).agg(" / ".join, axis=1))
    return table, pooled(table)


def _row(out, model, term):
    return out[(out["model"] == model) & (out["term"] == term)].iloc[0]


def _many_pairs(n_pairs=12, n=9, seed=3):
    rng = np.random.default_rng(seed)
    rows = [{"dataset": "d", "teacher": f"t{p}", "student": "s", "scheme": f"s{i}", "t_stddev": x,
             "s_test_loss": 0.1 * p + 0.5 * x + 0.3 * rng.standard_normal()}
            for p in range(n_pairs) for i, x in enumerate(rng.standard_normal(n))]
    table = pd.DataFrame(rows)
    return table.assign(pair=table["teacher"])


def test_fixed_effects_equal_statsmodels_with_cluster_robust_se():
    table = _many_pairs()
    out = pooled(table, n_resamples=0)
    groups = table["pair"].astype("category").cat.codes
    fit = smf.ols("s_test_loss ~ t_stddev + C(pair)", data=table).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    row = _row(out, "ols_fixed_effects", "slope")
    assert row["estimate"] == pytest.approx(fit.params["t_stddev"], rel=1e-10)
    assert row["se"] == pytest.approx(fit.bse["t_stddev"], rel=1e-10)
    assert row["p_value"] == pytest.approx(fit.pvalues["t_stddev"], rel=1e-8)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(fit.conf_int().loc["t_stddev"]), rel=1e-10)
    assert row["n"] == 108 and row["n_groups"] == 12


def test_cluster_robust_errors_with_few_clusters_give_no_p_value(paper):
    table, out = paper
    fit = smf.ols("s_test_loss ~ t_stddev + C(pair)", data=table).fit()
    row = _row(out, "ols_fixed_effects", "slope")
    assert row["estimate"] == pytest.approx(fit.params["t_stddev"], rel=1e-10)
    assert np.isnan([row["se"], row["ci_low"], row["p_value"]]).all()
    assert "only 8 cluster(s), fewer than 10" in row["reason"]


def test_a_mixed_model_that_did_not_converge_gives_no_p_value(paper):
    table, _ = paper
    out = pooled(table, standardize=True, n_resamples=0)  # on this data statsmodels' optimiser does not converge
    for _, row in out[out["model"].str.startswith("mixed")].iterrows():
        assert not row["converged"] and np.isnan(row["p_value"]) and np.isnan(row["ci_low"])
        assert row["reason"].startswith("did not converge")


def test_random_effects_need_five_pairs():
    table = _many_pairs(n_pairs=4)
    row = _row(pooled(table, n_resamples=0), "meta_fisher_z_pearson", "r")
    assert np.isnan(row["estimate"]) and "fewer than 5" in row["reason"]


def test_joint_bootstrap_fixed_effect_is_the_weighted_mean_r_with_an_interval(paper):
    table, out = paper
    row = _row(out, "fixed_effect_joint_bootstrap_pearson", "r")
    rs = table.groupby("pair").apply(lambda g: np.corrcoef(g["t_stddev"], g["s_test_loss"])[0, 1],
                                     include_groups=False)
    ns = table.groupby("pair").size()
    assert row["estimate"] == pytest.approx(float((rs * ns).sum() / ns.sum()))
    assert row["ci_low"] < row["estimate"] < row["ci_high"] and row["p_value"] >= 2 / 10000
    assert "fixed-effect summary of these 8 pairs" in row["reason"]


def test_mixed_intercept_equals_statsmodels(paper):
    table, out = paper
    # Unscaled fit: the slope is scale-equivariant, so it must agree with dastat's scaled fit.
    fit = smf.mixedlm("s_test_loss ~ t_stddev", table, groups=table["pair"]).fit(reml=True)
    row = _row(out, "mixed_intercept", "slope")
    assert row["estimate"] == pytest.approx(fit.fe_params["t_stddev"], rel=1e-4)
    assert row["se"] == pytest.approx(fit.bse_fe["t_stddev"], rel=1e-3)
    var = _row(out, "mixed_intercept", "group_var")
    assert var["estimate"] == pytest.approx(float(np.asarray(fit.cov_re)[0, 0]), rel=1e-3)


def test_random_slope_is_fitted_when_data_allow(paper):
    _, out = paper
    assert {"slope", "group_var", "slope_var"} <= set(out.loc[out["model"] == "mixed_slope", "term"])


def test_meta_analysis_equals_statsmodels_dersimonian_laird(paper):
    table, out = paper
    rs = table.groupby("pair", sort=False).apply(
        lambda g: np.corrcoef(g["t_stddev"], g["s_test_loss"])[0, 1], include_groups=False).to_numpy()
    ns = table.groupby("pair", sort=False).size().to_numpy()
    ref = combine_effects(np.arctanh(rs), 1 / (ns - 3), method_re="dl")
    frame = ref.summary_frame()
    row = _row(out, "meta_fisher_z_pearson", "r")
    assert row["estimate"] == pytest.approx(np.tanh(frame.loc["random effect", "eff"]), rel=1e-10)
    assert row["se"] == pytest.approx(frame.loc["random effect", "sd_eff"], rel=1e-10)
    assert row["ci_low"] == pytest.approx(np.tanh(frame.loc["random effect", "ci_low"]), rel=1e-10)
    assert row["ci_high"] == pytest.approx(np.tanh(frame.loc["random effect", "ci_upp"]), rel=1e-10)
    assert row["tau2"] == pytest.approx(ref.tau2, abs=1e-12)
    assert row["i2"] == pytest.approx(ref.i2, abs=1e-12)
    assert row["q"] == pytest.approx(ref.q, rel=1e-10)


def test_meta_analysis_without_heterogeneity_is_the_fixed_effect():
    got = meta_analysis(np.array([0.5, 0.5, 0.5]), np.array([10, 20, 30]))
    assert got["tau2"] == 0 and got["i2"] == 0
    assert got["estimate"] == pytest.approx(0.5)


def test_pairs_with_perfect_correlation_are_left_out_of_the_meta_analysis_with_a_reason(paper):
    table, _ = paper
    out = pooled(table, meta_method="spearman")
    row = _row(out, "meta_fisher_z_spearman", "r")
    assert row["n_groups"] == 6 and "Fisher z undefined" in row["reason"]


def test_too_few_rows_raise():
    with pytest.raises(InvalidArgumentError, match="at least 3"):
        pooled(pd.DataFrame({"dataset": ["a"], "teacher": ["t"], "student": ["s"], "t_stddev": [1.0],
                             "s_test_loss": [2.0]}))
