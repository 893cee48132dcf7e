"""Teacher-side predictors against a hand computation on a tiny case, and their jackknife intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from dastat import augment, probe
from dastat.augment.mixing import CutMixParams, MixupParams
from dastat.augment.picking import PickParams
from dastat.probe.predictors import NAMES, jackknife_bounds
from dastat.probe.stream import IndependentDraws, generator_for

SCHEMES = ["identity", "cutout", "mixup", "cutmix", "cutmixpick_t", "cutmixpick_s"]
NUM_SETS, BATCH, BATCHES = 4, 16, 2


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _targets(params, y: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Soft label rows of x' and the index of each row's source image (None for two sources), by hand."""
    eye = np.eye(c)
    if isinstance(params, PickParams):
        parts = [_targets(p, y, c) for p in params.pool_params]
        kept = params.kept.numpy()
        soft = np.concatenate([t for t, _ in parts])[kept]
        return soft, (None if parts[0][1] is None else np.tile(np.arange(len(y)), len(parts))[kept])
    if isinstance(params, (MixupParams, CutMixParams)):
        lam = (params.lam_corrected if isinstance(params, CutMixParams) else params.lam).numpy()[:, None]
        return lam * eye[y] + (1 - lam) * eye[y[params.partner.numpy()]], None
    return eye[y], np.arange(len(y))


def _by_hand(teacher, student, dataset, name: str, seed: int = 0) -> dict[str, float]:
    """Every predictor from a batch-by-batch loop of plain numpy (docs/method.md, "Teacher-side predictors").

    Protocol fast: each batch is an independent unit, and a stddev across sets is the stddev across
    batches over sqrt(batches per set)."""
    c = dataset.num_classes
    base = augment.standard(dataset.image_size)
    scheme = augment.get(name, image_size=dataset.image_size, fill=tuple(round(255 * m) for m in teacher.mean))
    stream = IndependentDraws(len(dataset), BATCH, seed=seed, device=torch.device("cpu"))
    means, labels, entropy = [], [], []
    px_all, pxp_all, soft_all, hits_x, kl = [], [], [], [], []
    for k in range(NUM_SETS * BATCHES):
        g_base = generator_for(seed, f"base:{k}", torch.device("cpu"))
        g_scheme = generator_for(seed, f"scheme:{name}:{k}", torch.device("cpu"))
        rows, y_set = [], []
        for b in (k,):
            index = stream.batch(b)
            y = dataset.labels[index].numpy()
            x = base(dataset.images[index], generator=g_base)
            xp, params = scheme(x, generator=g_scheme, scorer=student if name == "cutmixpick_s" else teacher,
                                return_params=True)
            with torch.inference_mode():
                px = _softmax(teacher(x).double().numpy())
                pxp = _softmax(teacher(xp).double().numpy())
            soft, source = _targets(params, y, c)
            rows += [px, pxp]
            y_set.append(y)
            px_all.append(px)
            pxp_all.append(pxp)
            soft_all.append(soft)
            hits_x.append(px.argmax(1) == y)
            if source is not None:
                q = px[source]
                kl.append((q * (np.log(q) - np.log(pxp))).sum(1))
        p_set = np.concatenate(rows)
        means.append(p_set.mean(0))
        labels.append(np.eye(c)[np.concatenate(y_set)].mean(0))
        entropy.append(-(p_set * np.log(p_set)).sum(1).mean())
    t = np.std(means, axis=0, ddof=1).mean() / math.sqrt(BATCHES)
    floor = np.std(labels, axis=0, ddof=1).mean() / math.sqrt(BATCHES)
    pxp, soft = np.concatenate(pxp_all), np.concatenate(soft_all)
    return {
        "t_stddev_rel": t / floor,
        "t_ce_stddev": np.std(entropy, ddof=1) / math.sqrt(BATCHES),
        "entropy_xprime": -(pxp * np.log(pxp)).sum(1).mean(),
        "affinity": soft[np.arange(len(soft)), pxp.argmax(1)].mean() / np.concatenate(hits_x).mean(),
        "ce_xprime": -(soft * np.log(pxp)).sum(1).mean(),
        "consistency": np.concatenate(kl).mean() if kl else math.nan,
        "sharpness": floor * (soft * pxp).sum(1).mean(),
    }


@pytest.fixture(scope="module")
def student(digits, make_teacher):
    return make_teacher(digits, seed=1)


@pytest.fixture(scope="module")
def results(digits, teacher, student):
    found = probe.rank(teacher, digits, SCHEMES, student=student, max_sets=NUM_SETS, min_sets=2,
                       check_every=NUM_SETS, rtol=1e-9, batch_size=BATCH, set_blocks=2 * BATCHES,
                       device="cpu").results
    return {r.scheme: r for r in found}


@pytest.mark.parametrize("name", SCHEMES)
def test_every_predictor_matches_a_hand_computation(results, digits, teacher, student, name):
    result, expected = results[name], _by_hand(teacher, student, digits, name)
    assert result.n_sets == NUM_SETS
    for key in NAMES:
        got, want = getattr(result, key), expected[key]
        if math.isnan(want):
            assert math.isnan(got), key
        else:  # float32 forwards of other batch shapes differ in their last bits
            assert got == pytest.approx(want, rel=1e-5, abs=1e-9), key
    assert result.entropy_xprime == pytest.approx(result.mean_entropy_xprime, rel=1e-12)


def test_mixing_schemes_have_no_consistency_and_identity_is_exactly_consistent(results):
    for name in ("mixup", "cutmix", "cutmixpick_t", "cutmixpick_s"):
        r = results[name]
        assert math.isnan(r.consistency) and math.isnan(r.consistency_ci_low), name
    ident = results["identity"]
    assert (ident.consistency, ident.consistency_ci_low, ident.consistency_ci_high) == (0.0, 0.0, 0.0)
    assert ident.affinity == pytest.approx(1.0, rel=1e-12)  # x' is x: same hits


def test_intervals_bracket_their_predictors(results):
    for r in results.values():
        for key in NAMES:
            low, high, value = getattr(r, f"{key}_ci_low"), getattr(r, f"{key}_ci_high"), getattr(r, key)
            if not math.isnan(value) and low != high:
                assert low < high, (r.scheme, key)
                assert low < value * 1.5 and high > value / 1.5, (r.scheme, key)  # near, bias corrected


def test_jackknife_bounds_match_the_textbook_formula():
    rng = np.random.default_rng(3)
    num, den = rng.gamma(5.0, size=12), rng.gamma(9.0, size=12)
    estimate = num.sum() / den.sum()
    loo = (num.sum() - num) / (den.sum() - den)
    m = len(loo)
    bias = (m - 1) * (loo.mean() - estimate)
    se = math.sqrt((m - 1) / m * ((loo - loo.mean()) ** 2).sum())
    dev = loo - loo.mean()
    kurtosis = (dev**4).mean() / (dev**2).mean() ** 2
    df = min(max(2 * (m - 1) / (kurtosis - 1), 1), m - 1)
    half = stats.t.ppf(0.975, df) * se
    low, high = jackknife_bounds(float(estimate), torch.from_numpy(loo), 0.95, log=False)
    assert (low, high) == pytest.approx((estimate - bias - half, estimate - bias + half), rel=1e-12)
    log_low, log_high = jackknife_bounds(float(estimate), torch.from_numpy(loo), 0.95, log=True)
    assert log_low < estimate < log_high


def test_ratio_interval_covers_at_its_nominal_level():
    # Sets of 50 rows whose per-row figure is exponential with mean 2: Σ figure / Σ rows estimates 2.
    # 400 repetitions: the coverage's sampling sd is sqrt(0.95 * 0.05 / 400) = 0.011; allow 3 of them.
    rng = np.random.default_rng(0)
    reps, m, truth = 400, 24, 2.0
    rows = rng.integers(40, 60, size=(reps, m)).astype(float)
    sums = rng.gamma(rows, truth)  # a sum of `rows` exponentials
    covered = 0
    for s, r in zip(sums, rows):
        estimate = s.sum() / r.sum()
        low, high = jackknife_bounds(estimate, torch.from_numpy((s.sum() - s) / (r.sum() - r)), 0.95, log=False)
        covered += low <= truth <= high
    assert abs(covered / reps - 0.95) < 3 * math.sqrt(0.95 * 0.05 / reps)
