"""The round-wide engine against the per-batch one it replaced: protocol paper's sets and figures, unchanged.

``fixtures/engine_values.json`` holds what the per-batch engine (commit 2bc1d14) gave on digits
with the tiny test teachers; ``fixtures/make_engine_values.py`` says how it was made. Float32
forwards at other batch sizes may differ in their last bits, so values are compared to 1e-5
relative; counts must be equal. Protocol paper is the reference step for step, so its run must
still match; the interval has changed since (a bias-corrected jackknife over sets;
docs/method.md, "T. stddev and its estimator"), so ``ci_low``/``ci_high`` are compared with that
interval computed on the per-batch engine's own sets. Protocol fast now draws every batch
independently from the pool, so the fixture's fast runs no longer apply; tests/probe/test_engine.py
and test_predictors.py check fast against a plain batch-by-batch loop instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dastat import augment, probe

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "engine_values.json").read_text())
RTOL = 1e-5
COUNTS = ("n_sets", "n_teacher_forwards", "rows_per_set")
INTERVAL = ("ci_low", "ci_high")
# The per-batch engine compared a picked x' with its batch's labels in x's order, or gave NaN when the
# kept count differed from the batch: its teacher_acc_xprime of picking schemes is not comparable.
PICKING = ("cutmixpick_t", "cutmixpick_s")


def _runs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_engine_values", FIXTURES / "make_engine_values.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _runs()


@pytest.mark.parametrize("run", ["paper"])
def test_same_sets_and_figures_as_the_per_batch_engine(run, digits, make_teacher):
    schemes, options = MAKE.RUNS[run]
    options = dict(options)
    subset = options.pop("subset", None)
    if options.get("resolve"):
        options["min_diff"] = 0.0  # the per-batch engine's rule: only a significant pair stops
    dataset = digits.subset(torch.arange(subset)) if subset else digits
    teacher, student = make_teacher(digits), make_teacher(digits, seed=1)
    results = probe.rank(teacher, dataset, schemes, student=student, device="cpu", return_sets=True,
                         **options).results
    expected = EXPECTED["runs"][run]
    assert sorted(r.scheme for r in results) == sorted(expected)
    for result in results:
        want = expected[result.scheme]
        want_means = np.array(want["set_means"])
        if options.get("resolve") and result.n_sets != want["n_sets"]:
            n = min(result.n_sets, want["n_sets"])
            np.testing.assert_allclose(result.set_means[:n], want_means[:n], rtol=RTOL, atol=0)
            continue
        ci = probe.interval(torch.from_numpy(want_means), confidence=result.confidence)
        for field in MAKE.FIELDS:
            if field == "teacher_acc_xprime" and result.scheme in PICKING:
                continue
            got, value = getattr(result, field), want[field]
            if field in INTERVAL:
                value = float(getattr(ci, field))
            if field in COUNTS:
                assert got == value, (result.scheme, field)
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                assert math.isnan(got), (result.scheme, field)
            else:
                assert got == pytest.approx(value, rel=RTOL), (result.scheme, field)
        # the same sets in the same order: every set's mean probabilities
        np.testing.assert_allclose(result.set_means, want_means, rtol=RTOL, atol=0)


def test_a_picked_x_prime_is_scored_against_its_base_images_label(digits, make_teacher):
    """Picking all of a pool of one CutMix run keeps CutMix's images, reordered: same figures, accuracy too."""
    teacher = make_teacher(digits)
    keep_all = augment.pick(augment.get("cutmix", image_size=32, fill=probe_fill(teacher)), pool_factor=1, keep=1.0)
    keep_all.name = "cutmix"  # the same random stream as CutMix's
    kwargs = dict(max_sets=3, min_sets=3, check_every=3, device="cpu", return_sets=True)
    picked = probe.measure_scheme(teacher, digits, keep_all, **kwargs)
    cutmix = probe.measure_scheme(teacher, digits, "cutmix", **kwargs)
    np.testing.assert_allclose(picked.set_means, cutmix.set_means, rtol=1e-12)
    assert picked.teacher_acc_xprime == pytest.approx(cutmix.teacher_acc_xprime, rel=1e-12)
    assert picked.n_teacher_forwards == cutmix.n_teacher_forwards  # the pool is x', scored once


def probe_fill(teacher) -> tuple[int, int, int]:
    return tuple(round(255 * m) for m in teacher.mean)
