"""Bad input to the probe: each gives a DastatError that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch

from dastat import data, probe
from dastat.errors import DastatError, InvalidArgumentError, NumericalError, UnknownNameError
from dastat.probe.stream import IndependentDraws

FAST = dict(max_sets=2, min_sets=2, check_every=2, rtol=1e-9, device="cpu")


def test_class_count_mismatch_names_both_counts(digits, make_teacher):
    other = data.load("synthetic", num_classes=7, num_images=64, image_size=32, seed=0)
    with pytest.raises(DastatError, match=r"teacher has 7 classes but dataset 'digits' has 10"):
        probe.measure_scheme(make_teacher(other), digits, "flip", **FAST)


def test_image_size_the_teacher_cannot_take(make_teacher):
    from dastat import models

    small = data.load("synthetic", num_classes=10, num_images=64, image_size=16, seed=0)
    teacher = models.wrap(models.create("resnet8", num_classes=10), small.mean, small.std, arch="resnet8")
    with pytest.raises(DastatError, match=r"cannot take 16x16 images"):
        probe.measure_scheme(teacher, small, "flip", **FAST)


def test_student_scheme_without_a_student(digits, teacher):
    with pytest.raises(DastatError, match=r"needs a student.*--student"):
        probe.measure_scheme(teacher, digits, "cutmixpick_s", **FAST)


def test_rank_all_leaves_out_the_student_scheme_without_a_student(digits, teacher):
    table = probe.rank(teacher, digits, "all", **FAST).table
    assert set(table["scheme"]) == set(probe.STUDENT_FREE)


@pytest.mark.parametrize("rtol", [0, -0.1])
def test_rtol_must_be_positive(digits, teacher, rtol):
    with pytest.raises(InvalidArgumentError, match=r"rtol must be in \(0"):
        probe.measure_scheme(teacher, digits, "flip", max_sets=2, rtol=rtol, device="cpu")


def test_unknown_scheme_suggests_close_names(digits, teacher):
    with pytest.raises(UnknownNameError, match=r"cutmix"):
        probe.measure_scheme(teacher, digits, "cutmx", **FAST)


def test_nan_teacher_outputs_name_the_batch(digits, teacher):
    # One image of batch 2 carries a mark on its centre 16 x 16 pixels; whatever crop (pad 4) and flip it
    # gets, the centre 8 x 8 stays marked, and the teacher returns NaN there. The batch is found however
    # the engine groups rows into forwards.
    poisoned = digits.subset(torch.arange(len(digits)))
    draws = IndependentDraws(len(digits), 64, seed=0, device=torch.device("cpu"))
    earlier = torch.cat([draws.batch(0), draws.batch(1)])
    target = next(i for i in draws.batch(2).tolist() if i not in earlier)  # first seen in batch 2
    poisoned.images[target, :, 8:24, 8:24] = 77

    class Broken(torch.nn.Module):
        num_classes = 10

        def forward(self, x):
            marked = (x[:, :, 12:20, 12:20] == 77).flatten(1).all(1)
            return teacher(x).masked_fill(marked[:, None], float("nan"))

    with pytest.raises(NumericalError, match=r"NaN or inf on x .* in batch 2;"):
        probe.measure_scheme(Broken(), poisoned, "flip", **FAST)


def test_ctrl_c_returns_the_estimate_so_far_and_nothing_else(digits, teacher):
    class Interrupting(torch.nn.Module):
        num_classes = 10
        set_rows = 0  # on the class: the engine forwards a copy of the teacher (dastat.models.inference)

        def forward(self, x):
            if x.shape[0] > 8:  # a set's forward, not one of the probe's checks (at most 8 images)
                type(self).set_rows += x.shape[0]
                if self.set_rows > 4 * 640:  # 4 sets of 640 rows
                    raise KeyboardInterrupt
            return teacher(x)

    with pytest.raises(probe.ProbeInterrupted) as caught:
        probe.measure_scheme(Interrupting(), digits, "flip", max_sets=100, min_sets=100, check_every=2,
                       device="cpu")
    (partial,) = caught.value.partial
    assert partial.interrupted and partial.n_sets == 4
    assert "not recorded" in str(caught.value)


def test_a_streaming_dataset_is_refused_with_the_subsample_hint(teacher, tmp_path):
    streaming = data.load("digits", max_memory=1024, cache_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"max_images=N"):
        probe.measure_scheme(teacher, streaming, "flip", **FAST)
