"""The probe engine against a plain reference, seeds, protocols and common random numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dastat import augment, data, models, probe
from dastat.probe import ProbeOptions, protocols
from dastat.probe.stream import IndependentDraws, generator_for


def _reference_batch_means(teacher, dataset, scheme_name, *, seed, num_sets, batch_size=64, batches_per_set=5):
    """Loop over batches as docs/method.md, "Protocols" describes for protocol fast: each batch draws its
    images independently from the pool, the rows p(x) then p(x'), their mean; T. stddev is the stddev of
    the batch means over sqrt(batches per set). Returns (batch means, T. stddev) in numpy."""
    base = augment.standard(dataset.image_size)
    fill = tuple(round(255 * m) for m in teacher.mean)
    scheme = augment.get(scheme_name, image_size=dataset.image_size, fill=fill)
    draws = IndependentDraws(len(dataset), batch_size, seed=seed, device=torch.device("cpu"))
    means = []
    for b in range(num_sets * batches_per_set):
        g_base = generator_for(seed, f"base:{b}", torch.device("cpu"))
        g_scheme = generator_for(seed, f"scheme:{scheme_name}:{b}", torch.device("cpu"))
        x = base(dataset.images[draws.batch(b)], generator=g_base)
        x_prime = scheme(x, generator=g_scheme, scorer=teacher)
        with torch.inference_mode():
            logits = teacher(torch.cat([x, x_prime]))
        means.append(logits.double().softmax(-1).numpy().mean(0))
    means = np.stack(means)
    return means, np.std(means, axis=0, ddof=1).mean() / math.sqrt(batches_per_set)


@pytest.mark.parametrize("scheme", ["cutout", "mixup", "cutmixpick_t"])
def test_engine_matches_a_plain_reference(digits, teacher, scheme):
    result = probe.measure_scheme(teacher, digits, scheme, max_sets=6, min_sets=2, check_every=3, rtol=1e-9,
                            device="cpu", return_sets=True)
    means, expected = _reference_batch_means(teacher, digits, scheme, seed=0, num_sets=6)
    assert (result.n_sets, result.n_units) == (6, 30)
    np.testing.assert_allclose(result.unit_means, means, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.set_means, means.reshape(6, 5, -1).mean(1), rtol=0, atol=1e-12)
    assert result.t_stddev == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scheme", ["cutout", "cutmixpick_t"])
def test_engine_with_a_batchnorm_teacher_matches_the_plain_reference_to_float32_rounding(digits, scheme):
    """The engine forwards a folded, channels-last copy of the teacher (dastat.models.inference): its logits
    differ from the teacher's in the last bits (about 1e-6 of the largest, ~12 here), which moves a
    probability by at most half that; 1e-5 bounds set means and T. stddev's relative change."""
    teacher = models.embedded_teacher()
    result = probe.measure_scheme(teacher, digits, scheme, max_sets=6, min_sets=2, check_every=3, rtol=1e-9,
                                  device="cpu", return_sets=True)
    means, expected = _reference_batch_means(teacher, digits, scheme, seed=0, num_sets=6)
    np.testing.assert_allclose(result.unit_means, means, rtol=0, atol=1e-5)
    assert result.t_stddev == pytest.approx(expected, rel=1e-5)


def test_identity_scores_x_once_for_x_and_x_prime(digits, teacher):
    kwargs = dict(max_sets=4, min_sets=2, check_every=2, rtol=1e-9, device="cpu", return_sets=True)
    result = probe.measure_scheme(teacher, digits, "identity", **kwargs)
    assert result.n_sets == 4
    means, expected = _reference_batch_means(teacher, digits, "identity", seed=0, num_sets=4)
    np.testing.assert_allclose(result.unit_means, means, rtol=0, atol=1e-12)
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
    assert (result.n_sets, result.n_units, result.units_per_set) == (3, 3, 1)
    # x: 4 x 64 + 24 rows; x': 64 of each pool of 128, and all 48 of the short batch's pool.
    assert result.rows_per_set == (4 * 64 + 24) + (4 * 64 + 48)
    assert result.randomness == "batch"
    assert result.protocol == "paper"


@pytest.mark.parametrize(("protocol", "num_images", "flagged"),
                         [("paper", 280, True), ("paper", 6399, True), ("paper", 6400, False), ("fast", 280, False)])
def test_only_the_paper_protocol_on_fewer_than_20_sets_of_images_is_pool_dependent(protocol, num_images, flagged):
    # 20 sets' worth: 20 x 320 = 6,400 images (docs/method.md, "Protocols")
    cfg = protocols.plan(ProbeOptions(protocol=protocol), num_images)
    assert cfg.pool_dependent is flagged


def test_a_small_pool_is_flagged_on_the_result_and_in_the_store(teacher, tmp_path):
    from dastat import store

    ds = data.load("digits").subset(torch.arange(280))
    result = probe.measure_scheme(teacher, ds, "cutout", protocol="paper", epochs=3, device="cpu")
    assert result.pool_dependent
    with store.open(tmp_path / "s.sqlite") as db:
        db.add_probe(result.to_dict())
        extra = db.probes()["extra"].iloc[0]  # fields without a column of their own are kept as JSON
        assert (json.loads(extra) if isinstance(extra, str) else extra)["pool_dependent"] is True


def test_paper_and_fast_batch_randomness_agree_within_the_interval(make_teacher):
    # A pool of 40 sets' worth of images: the within-epoch stream's sets are then nearly independent
    # draws (the label part shrinks by sqrt((N - n)/(N - 1)) = 0.99), so both protocols estimate one quantity.
    ds = data.load("synthetic", num_classes=10, num_images=12_800, image_size=32, seed=0)
    teacher = make_teacher(ds, seed=1, scale=8.0)
    paper = probe.measure_scheme(teacher, ds, "cutout", protocol="paper", epochs=2, device="cpu", seed=1)
    fast = probe.measure_scheme(teacher, ds, "cutout", randomness="batch", rtol=0.1, device="cpu", seed=2)
    # Independent estimates of one quantity: their difference is within ~2 combined half-widths.
    half = math.hypot(paper.ci_high - paper.ci_low, fast.ci_high - fast.ci_low) / 2
    assert abs(paper.t_stddev - fast.t_stddev) <= half * 1.5
    assert fast.rel_halfwidth <= 0.1


@pytest.mark.parametrize("num_images", [100, 5000])
def test_floor_is_the_binomial_value_whatever_the_pool(make_teacher, num_images):
    """Balanced labels, each set 320 independent draws: floor = mean_c sqrt(p(1-p)/n) for any pool size
    (docs/method.md, "The floor"). Within epochs a pool of 100 gave 0.0058 instead of 0.0168."""
    n_classes = 10
    ds = data.load("synthetic", num_classes=n_classes, num_images=num_images, image_size=32, seed=0)
    teacher = make_teacher(ds)
    result = probe.measure_scheme(teacher, ds, "identity", max_sets=200, min_sets=200, rtol=1e-9, device="cpu")
    p, n = 1 / n_classes, 320
    expected = math.sqrt(p * (1 - p) / n)
    # The sample stddev of M units has relative error ~ 1/sqrt(2(M-1)) per class, averaged over C.
    rel_se = 1 / math.sqrt(2 * (result.n_units - 1) * n_classes)
    assert result.n_units == 1000
    assert result.floor == pytest.approx(expected, rel=4 * rel_se)
