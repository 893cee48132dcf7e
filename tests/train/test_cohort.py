"""Cohort training: each member is the run it would be alone; NaN members stop alone; kill and resume."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dastat import data
from dastat.errors import InvalidArgumentError
from dastat.train import distill, inputs, read_records
from dastat.train.cohort import distill_cohort
from dastat.train.fusion import FusedClassifier, FusionError

sys.path.insert(0, str(Path(__file__).parent))
from tiny import sigkill_when_ready, toy_split, toy_teacher

CHILD = Path(__file__).with_name("child_cohort.py")
# Two schemes x two seeds; cutmixpick_s scores its candidates with the member's own student.
RUNS = [("cutmix", 0), ("cutmixpick_s", 0), ("cutmix", 1), ("cutmixpick_s", 1)]


def _digits(n_train: int | None, image_size: int):
    train_set = data.load("digits", split="train", image_size=image_size)
    test_set = data.load("digits", split="test", image_size=image_size)
    if n_train is not None:  # the short default-run version: part of each split
        train_set, test_set = train_set.subset(torch.arange(n_train)), test_set.subset(torch.arange(64))
    return train_set, test_set


def _max_rel(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-300)).item()
               for k in b if b[k].is_floating_point())


def _check_float64_members_equal_runs_alone(n_train: int | None, image_size: int) -> None:
    train_set, test_set = _digits(n_train, image_size)
    teacher = inputs.as_classifier("resnet8", train_set, seed=7, role="teacher").double().eval()
    student = inputs.as_classifier("resnet8", train_set, seed=5, role="student").double()
    cohort = distill_cohort(teacher, student, train_set, test_set, RUNS, epochs=1, device="cpu")
    for (scheme, seed), member in zip(RUNS, cohort):
        alone = distill(teacher, copy.deepcopy(student), train_set, test_set, scheme, seed=seed, epochs=1,
                        device="cpu")
        # float64 rounding (~1e-16) grown over an epoch's steps stays far below 1e-9.
        assert _max_rel(member.model.state_dict(), alone.model.state_dict()) < 1e-9, (scheme, seed)
        assert member.record["test_loss"] == pytest.approx(alone.record["test_loss"], rel=1e-9)
        assert member.record["config"] == alone.record["config"]
        assert [r["epoch"] for r in member.curve] == [r["epoch"] for r in alone.curve]


def test_float64_members_equal_their_runs_alone_on_a_digits_subset():
    _check_float64_members_equal_runs_alone(128, 8)


@pytest.mark.slow
def test_float64_members_equal_their_runs_alone_after_one_digits_epoch():
    _check_float64_members_equal_runs_alone(None, 16)


def _check_float32_members_match_runs_alone(n_train: int | None, image_size: int) -> None:
    # float32 rounding differences, once there are any, grow over an epoch to ~1e-3 in the test loss (a
    # channels-last run of the same student alone moves as far); on the CPU each member's convolutions
    # and head are its own kernels, so a member computes what its run alone does and 1e-4 holds.
    train_set, test_set = _digits(n_train, image_size)
    teacher = inputs.as_classifier("resnet8", train_set, seed=7, role="teacher").eval()
    cohort = distill_cohort(teacher, "resnet8", train_set, test_set, RUNS, epochs=1, device="cpu")
    for (scheme, seed), member in zip(RUNS, cohort):
        alone = distill(teacher, "resnet8", train_set, test_set, scheme, seed=seed, epochs=1, device="cpu")
        assert member.record["test_loss"] == pytest.approx(alone.record["test_loss"], rel=1e-4), (scheme, seed)


def test_float32_members_match_their_runs_alone_on_a_digits_subset():
    _check_float32_members_match_runs_alone(128, 8)


@pytest.mark.slow
def test_float32_members_match_their_runs_alone_after_one_digits_epoch():
    _check_float32_members_match_runs_alone(None, 16)


@pytest.mark.parametrize("test_from", [1, 2])
def test_a_cohort_of_one_is_bit_identical_to_distill(test_from):
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    [member] = distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("cutmix", 3)], epochs=2,
                              batch_size=12, device="cpu", test_from=test_from)
    alone = distill(toy_teacher(), "resnet8", train_set, test_set, "cutmix", seed=3, epochs=2, batch_size=12,
                    device="cpu")
    for key, value in alone.model.state_dict().items():
        assert torch.equal(member.model.state_dict()[key], value), key
    assert member.record["test_loss"] == alone.record["test_loss"]
    assert member.record["run_id"] == alone.record["run_id"]
    assert (member.curve[0]["test_loss"] is None) == (test_from == 2)


def test_channels_last_members_equal_their_runs_alone():
    # The CUDA default layout, checked on the CPU: the members' views into channels-last fused weights.
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    teacher = toy_teacher().double()
    student = inputs.as_classifier("resnet8", train_set, seed=1, role="student").double()
    runs = [("cutmix", 0), ("flip", 1)]
    cohort = distill_cohort(teacher, student, train_set, test_set, runs, epochs=1, batch_size=12, device="cpu",
                            channels_last=True)
    for (scheme, seed), member in zip(runs, cohort):
        alone = distill(teacher, copy.deepcopy(student), train_set, test_set, scheme, seed=seed, epochs=1,
                        batch_size=12, device="cpu", channels_last=True)
        assert _max_rel(member.model.state_dict(), alone.model.state_dict()) < 1e-9, scheme


def test_cohort_size_on_the_cpu_is_every_member():
    from dastat.train.cohort import fit_cohort_size

    assert fit_cohort_size(toy_teacher(), "resnet8", toy_split(32, "train"), 27, device="cpu") == 27


def test_run_directories_have_the_layout_of_single_runs(tmp_path):
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    runs = [("flip", 0), ("cutmix", 0)]
    dirs = [tmp_path / "flip", tmp_path / "cutmix"]
    results = distill_cohort(toy_teacher(), "resnet8", train_set, test_set, runs, epochs=2, batch_size=12,
                             device="cpu", out_dirs=dirs)
    alone_dir = tmp_path / "alone"
    distill(toy_teacher(), "resnet8", train_set, test_set, "flip", seed=0, epochs=2, batch_size=12, device="cpu",
            out_dir=alone_dir)
    assert sorted(p.name for p in dirs[0].iterdir()) == sorted(p.name for p in alone_dir.iterdir())
    curve, final = read_records(dirs[0])
    assert final["run_id"] == results[0].run_id and [r["epoch"] for r in curve] == [1, 2]
    state = torch.load(dirs[0] / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["config"] == results[0].record["config"]
    # The member's checkpoint resumes as a single run (here: nothing left to do, the same final weights).
    resumed = distill(toy_teacher(), "resnet8", train_set, test_set, "flip", seed=0, epochs=2, batch_size=12,
                      device="cpu", out_dir=dirs[0], resume=True)
    for key, value in results[0].model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    from dastat import store
    from dastat.runs import record_runs

    assert record_runs(tmp_path / "s.sqlite", results) == 2
    students = store.open(tmp_path / "s.sqlite").students()
    assert sorted(students["scheme"]) == ["cutmix", "flip"]


class _Blank:
    """A scheme that turns every x' black from its ``bad_from``-th call on (the teacher below makes that NaN)."""

    name = "blank"
    scorer = None
    hparams = None

    def __init__(self, bad_from: int):
        self.calls, self.bad_from = 0, bad_from

    def __call__(self, x, generator=None, scorer=None):
        self.calls += 1
        return torch.zeros_like(x) if self.calls >= self.bad_from else x.clone()


class _NaNOnBlack(torch.nn.Module):
    """The teacher's logits, NaN for an all-black image."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher, self.arch, self.num_classes = teacher, teacher.arch, teacher.num_classes

    def forward(self, x):
        logits = self.teacher(x)
        black = (x.flatten(1).amax(1) == 0)[:, None]
        return logits.masked_fill(black, float("nan"))


def test_a_nan_member_stops_and_the_others_go_on(tmp_path):
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    teacher = _NaNOnBlack(toy_teacher()).double()
    student = inputs.as_classifier("resnet8", train_set, seed=1, role="student").double()
    steps = 3  # 32 images in batches of 12
    runs = [("cutmix", 2), (_Blank(bad_from=steps + 2), 2), ("flip", 5)]  # blank turns NaN in epoch 2, step 2
    dirs = [tmp_path / str(i) for i in range(3)]
    results = distill_cohort(teacher, student, train_set, test_set, runs, epochs=2, batch_size=12, device="cpu",
                             out_dirs=dirs, checkpoint_every=1)
    bad = results[1]
    assert bad.record["status"] == "failed"
    assert "epoch 2, step 2 of 3" in bad.extra["error"] and "last good checkpoint" in bad.extra["error"]
    assert [r["epoch"] for r in bad.curve] == [1]
    assert torch.load(dirs[1] / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert read_records(dirs[1])[1] is None  # no final record: the run is not done
    for i in (0, 2):
        scheme, seed = runs[i]
        alone = distill(teacher, copy.deepcopy(student), train_set, test_set, scheme, seed=seed, epochs=2,
                        batch_size=12, device="cpu")
        assert _max_rel(results[i].model.state_dict(), alone.model.state_dict()) < 1e-9, scheme
        assert len(results[i].curve) == 2


def test_cohort_killed_with_sigkill_resumes_bit_identically(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run([sys.executable, str(CHILD), str(straight)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr
    code = sigkill_when_ready([sys.executable, str(CHILD), str(killed), "--kill-at", "2,2"], env)
    assert code == -signal.SIGKILL
    assert torch.load(killed / "cohort" / "cohort.pt", weights_only=True)["epoch"] == 1
    again = subprocess.run([sys.executable, str(CHILD), str(killed), "--resume"], capture_output=True, text=True,
                           timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    a = torch.load(straight / "final_weights.pt", weights_only=True)
    b = torch.load(killed / "final_weights.pt", weights_only=True)
    for wa, wb in zip(a, b):
        for key in wa:
            assert torch.equal(wa[key], wb[key]), key
    for member in ("cutmix_s3", "flip_s3", "cutmix_s4", "mixup_s4"):
        strip = [[{k: v for k, v in row.items() if k != "wall_s"} for row in read_records(root / member)[0]]
                 for root in (straight, killed)]
        assert strip[0] == strip[1] and len(strip[0]) == 3


@pytest.mark.parametrize("arch", ["resnet8", "wrn_16_1", "vgg8", "MobileNetV2", "ShuffleV1"])
def test_zoo_architectures_fuse_or_are_refused(arch):
    from dastat import models

    members = []
    for seed in range(2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            members.append(models.wrap(models.create(arch, num_classes=10, image_size=32), (0.5,) * 3, (0.25,) * 3,
                                       arch=arch))
    fused = FusedClassifier(members)
    images = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    if arch == "ShuffleV1":  # its channel shuffle mixes the members' channels
        with pytest.raises(FusionError, match="cannot be fused"):
            fused.check(images, members)
    else:
        fused.check(images, members)


def test_a_fusion_that_mixes_channels_is_refused():
    class Shuffle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            x = self.conv(x)
            x = x.flip(1)  # reverses the members' channel blocks too
            return self.fc(x.mean((2, 3)))

    from dastat import models

    members = [models.wrap(Shuffle(), (0.5,) * 3, (0.25,) * 3) for _ in range(2)]
    fused = FusedClassifier(members)
    with pytest.raises(FusionError, match="cannot be fused"):
        fused.check(torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), members)


def test_bad_runs_are_refused():
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    with pytest.raises(InvalidArgumentError, match="at least one"):
        distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [], epochs=1)
    with pytest.raises(InvalidArgumentError, match="repeats"):
        distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("flip", 0), ("flip", 0)], epochs=1)
    with pytest.raises(InvalidArgumentError, match="one directory per run"):
        distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("flip", 0)], epochs=1, out_dirs=[])
    with pytest.raises(InvalidArgumentError, match="method"):
        distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("flip", 0)], epochs=1, method="crd")


def test_a_fused_float32_step_on_the_cpu_is_each_members_step_bit_for_bit():
    # One forward and backward: each member's logits and gradients are those of its network alone.
    train_set = toy_split(3 * 16, "train", num_classes=10)
    members = [inputs.as_classifier("resnet8", train_set, seed=s, role="student").train() for s in range(3)]
    fused = FusedClassifier(members).train()
    batches = list(train_set.images.split(16))
    target = torch.randn(3, 16, 10, generator=torch.Generator().manual_seed(0))
    logits = fused(batches)
    (logits * target).sum().backward()
    fused_grads = {name: p.grad.unflatten(0, (3, -1)) for name, p in fused.net.named_parameters()}
    for i, (member, images) in enumerate(zip(members, batches)):
        alone = member(images)
        (alone * target[i]).sum().backward()
        assert torch.equal(logits[i], alone), i
        for name, p in member.net.named_parameters():
            assert torch.equal(fused_grads[name][i], p.grad), (i, name)


def test_each_epoch_reports_the_members_and_their_images_per_second():
    train_set, test_set = toy_split(32, "train"), toy_split(16, "test")
    reports = []
    distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("flip", 0), ("cutmix", 1)], epochs=2,
                   batch_size=12, device="cpu", on_epoch=reports.append)
    assert [r.epoch for r in reports] == [1, 2] and all(r.epochs == 2 for r in reports)
    assert reports[0].members == ("flip:s0", "cutmix:s1") and reports[0].failed == () and reports[0].active == 2
    assert all(r.images_per_s > 0 for r in reports)


def test_the_cohort_bar_shows_members_and_images_per_second(capsys):
    from dastat.train import CohortBar, CohortProgress

    bar = CohortBar(["flip:s0", "cutmix:s0", "mixup:s0", "cutout:s0"], epochs=3)
    bar(CohortProgress(2, 3, ("flip:s0", "cutmix:s0", "mixup:s0", "cutout:s0"), ("mixup:s0",), 123.4))
    bar.close()
    shown = capsys.readouterr().err
    assert "cohort of 4 [flip:s0, cutmix:s0, mixup:s0, ... (+1)]" in shown
    assert "members=3/4" in shown and "failed=1" in shown and "img_s=123" in shown and "2/3" in shown
