"""The probe engine against a plain reference, seeds, protocols and common random numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dastat import augment, data, models, probe
from dastat.probe.stream import BatchStream, generator_for


def _reference_set_means(teacher, dataset, scheme_name, *, seed, num_sets, batch_size=64, batches_per_set=5):
    """Loop over sets as docs/method.md, "T. stddev and its estimator" describes: blocks of p(x) and p(x'), mean of all
    rows, then numpy."""
    base = augment.standard(dataset.image_size)
    fill = tuple(round(255 * m) for m in teacher.mean)
    scheme = augment.get(scheme_name, image_size=dataset.image_size, fill=fill)
    stream = BatchStream(len(dataset), batch_size, seed=seed, device=torch.device("cpu"))
    means = []
    for k in range(num_sets):
        g_base = generator_for(seed, f"base:{k}", torch.device("cpu"))
        g_scheme = generator_for(seed, f"scheme:{scheme_name}:{k}", torch.device("cpu"))
        rows = []
        for b in range(k * batches_per_set, (k + 1) * batches_per_set):
            x = base(dataset.images[stream.batch(b)], generator=g_base)
            x_prime = scheme(x, generator=g_scheme, scorer=teacher)
            with torch.inference_mode():
                logits = teacher(torch.cat([x, x_prime]))
            rows.append(logits.double().softmax(-1).numpy())
        means.append(np.concatenate(rows).mean(0))
    means = np.stack(means)
    return means, np.std(means, axis=0, ddof=1).mean()


@pytest.mark.parametrize("scheme", ["cutout", "mixup", "cutmixpick_t"])
def test_engine_matches_a_plain_reference(digits, teacher, scheme):
    result = probe.measure_scheme(teacher, digits, scheme, max_sets=6, min_sets=2, check_every=3, rtol=1e-9,
                            device="cpu", return_sets=True)
    means, expected = _reference_set_means(teacher, digits, scheme, seed=0, num_sets=6)
    assert result.n_sets == 6
    np.testing.assert_allclose(result.set_means, means, rtol=0, atol=1e-12)
    assert result.t_stddev == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scheme", ["cutout", "cutmixpick_t"])
def test_engine_with_a_batchnorm_teacher_matches_the_plain_reference_to_float32_rounding(digits, scheme):
    """The engine forwards a folded, channels-last copy of the teacher (dastat.models.inference): its logits
    differ from the teacher's in the last bits (about 1e-6 of the largest, ~12 here), which moves a
    probability by at most half that; 1e-5 bounds set means and T. stddev's relative change."""
    teacher = models.embedded_teacher()
    result = probe.measure_scheme(teacher, digits, scheme, max_sets=6, min_sets=2, check_every=3, rtol=1e-9,
                                  device="cpu", return_sets=True)
    means, expected = _reference_set_means(teacher, digits, scheme, seed=0, num_sets=6)
    np.testing.assert_allclose(result.set_means, means, rtol=0, atol=1e-5)
    assert result.t_stddev == pytest.approx(expected, rel=1e-5)


def test_identity_scores_x_once_for_x_and_x_prime(digits, teacher):
    kwargs = dict(max_sets=4, min_sets=2, check_every=2, rtol=1e-9, device="cpu", return_sets=True)
    result = probe.measure_scheme(teacher, digits, "identity", **kwargs)
    # min_sets=2 and a check after 2 sets: the rule still waits for 3 (2 sets give a zero-width interval)
    assert result.n_sets == 4
    means, expected = _reference_set_means(teacher, digits, "identity", seed=0, num_sets=4)
    np.testing.assert_allclose(result.set_means, means, rtol=0, atol=1e-12)
    assert result.t_stddev == pytest.approx(expected, rel=1e-12)
    assert result.n_teacher_forwards == 4 * 5 * 64  # x only: 5 batches of 64 per set, no x' forward
    in_rank = probe.rank(teacher, digits, ["identity", "flip"], **kwargs).results
    assert np.array_equal(next(r for r in in_rank if r.scheme == "identity").set_means, result.set_means)


def test_cutmixpick_t_reuses_the_logits_the_teacher_gave_its_pool(digits, teacher):
    # The values match the plain reference (which scores x' again) in test_engine_matches_a_plain_reference;
    # here the count: per batch x (64) and the pool (128), no third forward for the kept x'.
    result = probe.measure_scheme(teacher, digits, "cutmixpick_t", max_sets=3, min_sets=3, check_every=3, device="cpu")
    assert result.n_teacher_forwards == 3 * 5 * (64 + 128)


def test_seeded_runs_are_bit_identical_and_seeds_differ(digits, teacher):
    kwargs = dict(max_sets=4, min_sets=2, check_every=2, rtol=1e-9, device="cpu", return_sets=True)
    first = probe.measure_scheme(teacher, digits, "cutmix", seed=3, **kwargs)
    again = probe.measure_scheme(teacher, digits, "cutmix", seed=3, **kwargs)
    other = probe.measure_scheme(teacher, digits, "cutmix", seed=4, **kwargs)
    assert np.array_equal(first.set_means, again.set_means)
    assert first.t_stddev == again.t_stddev
    assert not np.array_equal(first.set_means, other.set_means)


def test_rank_uses_common_random_numbers(digits, teacher):
    """A scheme's sets in a ranking are those it gets alone: same order, same x, its own stream."""
    kwargs = dict(max_sets=4, min_sets=2, check_every=2, rtol=1e-9, device="cpu")
    ranking = probe.rank(teacher, digits, ["flip", "cutout", "mixup"], return_sets=True, **kwargs)
    table, results = ranking.table, ranking.results
    alone = probe.measure_scheme(teacher, digits, "cutout", return_sets=True, **kwargs)
    in_rank = next(r for r in results if r.scheme == "cutout")
    assert np.array_equal(in_rank.set_means, alone.set_means)
    assert list(table["t_stddev"]) == sorted(table["t_stddev"])
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["diff_next"].iloc[:2].gt(0).all() and math.isnan(table["diff_next"].iloc[2])
    # The floor (labels only) is the same for every scheme: all see the same images.
    assert table["floor"].nunique() == 1


def test_paper_protocol_counts_sets_over_epochs_and_keeps_short_batches(teacher):
    ds = data.load("digits").subset(torch.arange(280))  # 280 images: 5 batches, the last of 24
    result = probe.measure_scheme(teacher, ds, "cutmixpick_t", protocol="paper", epochs=3, device="cpu")
    # 3 epochs x 5 batches = 15 batches = 3 sets; each set holds one short batch of 24 rows.
    assert result.n_sets == 3
    # x: 4 x 64 + 24 rows; x': 64 of each pool of 128, and all 48 of the short batch's pool.
    assert result.rows_per_set == (4 * 64 + 24) + (4 * 64 + 48)
    assert result.randomness == "batch"
    assert result.protocol == "paper"


def test_paper_and_fast_batch_randomness_agree_within_the_interval(digits, make_teacher):
    teacher = make_teacher(digits, seed=1, scale=8.0)
    paper = probe.measure_scheme(teacher, digits, "cutout", protocol="paper", epochs=10, device="cpu", seed=1)
    fast = probe.measure_scheme(teacher, digits, "cutout", randomness="batch", rtol=0.1, device="cpu", seed=2)
    # Independent estimates of one quantity: their difference is within ~2 combined half-widths.
    half = math.hypot(paper.ci_high - paper.ci_low, fast.ci_high - fast.ci_low) / 2
    assert abs(paper.t_stddev - fast.t_stddev) <= half * 1.5
    assert fast.rel_halfwidth <= 0.1


def test_floor_matches_the_binomial_closed_form(make_teacher):
    """Balanced labels, 320 distinct images a set: floor ≈ mean_c sqrt(p(1-p)/n · fpc)."""
    n_classes, n_images = 10, 6400
    ds = data.load("synthetic", num_classes=n_classes, num_images=n_images, image_size=32, seed=0)
    teacher = make_teacher(ds)
    result = probe.measure_scheme(teacher, ds, "identity", max_sets=60, min_sets=60, rtol=1e-9, device="cpu",
                            batch_size=64, set_blocks=10)
    p, n = 1 / n_classes, 320
    fpc = (n_images - n) / (n_images - 1)  # sets are drawn without replacement inside an epoch
    expected = math.sqrt(p * (1 - p) / n * fpc)
    # The sample stddev of M sets has relative error ~ 1/sqrt(2(M-1)) per class, averaged over C.
    rel_se = 1 / math.sqrt(2 * (result.n_sets - 1) * n_classes)
    assert result.floor == pytest.approx(expected, rel=4 * rel_se)
