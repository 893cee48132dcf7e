"""Do the schemes move the students' test loss? The blocked ANOVA against a hand computation and theory."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats

from dastat.study.analysis import scheme_effect


def _students(losses: np.ndarray) -> pd.DataFrame:
    """One run per scheme x seed: ``losses[scheme, seed]``."""
    schemes, seeds = losses.shape
    return pd.DataFrame([{"dataset": "digits", "teacher": "t", "student": "s", "scheme": f"scheme{i}", "seed": j,
                          "test_loss": losses[i, j]} for i in range(schemes) for j in range(seeds)])


def test_matches_a_balanced_two_way_anova_by_hand():
    rng = np.random.default_rng(0)
    losses = 0.05 + np.array([0.0, 0.004, 0.008, 0.002])[:, None] + np.array([0.003, -0.002, 0.0])[None, :]
    losses = losses + rng.normal(0, 0.002, losses.shape)
    row = scheme_effect(_students(losses)).iloc[0]
    a, b = losses.shape
    grand = losses.mean()
    ss_scheme = b * ((losses.mean(1) - grand) ** 2).sum()
    ss_seed = a * ((losses.mean(0) - grand) ** 2).sum()
    ss_resid = ((losses - grand) ** 2).sum() - ss_scheme - ss_seed
    df_resid = (a - 1) * (b - 1)
    f = (ss_scheme / (a - 1)) / (ss_resid / df_resid)
    assert math.isclose(row["f"], f, rel_tol=1e-9)
    assert math.isclose(row["p_value"], scipy.stats.f.sf(f, a - 1, df_resid), rel_tol=1e-9)
    assert math.isclose(row["residual_sd"], math.sqrt(ss_resid / df_resid), rel_tol=1e-9)
    assert math.isclose(row["signal_to_noise"], losses.mean(1).std(ddof=1) / (row["residual_sd"] / math.sqrt(b)))
    assert (row["n_schemes"], row["n_runs"], row["n_seeds"]) == (4, 12, 3)


def test_without_a_scheme_effect_it_rejects_at_the_nominal_rate():
    # 9 schemes x 3 seeds with seed effects only: p < 0.05 in 5% of studies, up to binomial error.
    rng = np.random.default_rng(1)
    reps = 300
    rejected = 0
    for _ in range(reps):
        losses = rng.normal(0, 0.01, (1, 3)) + rng.normal(0.05, 0.004, (9, 3))
        rejected += scheme_effect(_students(losses)).iloc[0]["p_value"] < 0.05
    assert abs(rejected / reps - 0.05) < 4 * math.sqrt(0.05 * 0.95 / reps)


def test_one_seed_cannot_be_tested():
    row = scheme_effect(_students(np.array([[0.05], [0.06], [0.07]]))).iloc[0]
    assert math.isnan(row["p_value"]) and row["n_seeds"] == 1
