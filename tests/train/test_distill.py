"""The loss, the schedule and the trainer's refusals of bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from tiny import toy_split, toy_teacher

from dastat.errors import ConfigError, InvalidArgumentError, NumericalError, UnknownNameError
from dastat.train import distill, fit
from dastat.train.loss import kd_loss, kl_tau
from dastat.train.schedule import default_lr, milestones_for


def test_kl_tau_matches_the_written_out_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    p_t = F.softmax(t / 4, dim=1)
    by_hand = 16 * (p_t * (p_t.log() - F.log_softmax(s / 4, dim=1))).sum(dim=1).mean()
    assert torch.allclose(kl_tau(s, t), by_hand, rtol=1e-6)
    assert kl_tau(t, t).abs() < 1e-6


def test_kd_loss_weights_ce_and_both_kl_terms():
    g = torch.Generator().manual_seed(1)
    s, t, sp, tp = (torch.randn(4, 3, generator=g) for _ in range(4))
    y = torch.tensor([0, 1, 2, 0])
    expected = 0.1 * F.cross_entropy(s, y) + 0.9 * (kl_tau(s, t) + kl_tau(sp, tp))
    assert torch.allclose(kd_loss(s, t, y, sp, tp), expected)


def test_schedule_follows_spec_section_3():
    assert milestones_for(240) == [150, 180, 210]
    assert milestones_for(480) == [300, 360, 420]
    assert default_lr("MobileNetV2") == 0.01 and default_lr("ShuffleV2") == 0.01 and default_lr("resnet8") == 0.05


@pytest.fixture(scope="module")
def data():
    return toy_split(24, "train"), toy_split(8, "test")


def test_distill_records_the_final_and_best_epoch(data, tmp_path):
    result = distill(toy_teacher(), "resnet8", *data, "flip", epochs=2, batch_size=12, device="cpu",
                     out_dir=tmp_path, checkpoint_every=5)
    rec = result.record
    for key in ("test_loss", "test_acc1", "test_acc5", "best_test_acc1", "best_epoch", "best_test_loss",
                "train_loss", "teacher", "student", "scheme", "scheme_params", "epochs", "epoch_factor"):
        assert key in rec, key
    assert rec["epochs"] == 2 and rec["config"]["milestones"] == [1, 2, 2]
    assert rec["randomness"] == "sample"  # dastat's schemes draw per image unless built otherwise
    assert [row["lr"] for row in result.curve] == [0.05, pytest.approx(0.005)]
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "student.pt").exists()


def test_fit_trains_a_classifier(data):
    result = fit("resnet8", *data, epochs=1, batch_size=12, device="cpu")
    assert result.record["epochs"] == 1 and len(result.curve) == 1
    assert result.model.arch == "resnet8"


def test_class_count_mismatch_is_refused(data):
    with pytest.raises(InvalidArgumentError, match=r"teacher \(resnet8\) has 10 classes but dataset 'toy' has 4"):
        distill(toy_teacher(num_classes=10), "resnet8", *data, "flip", epochs=1, device="cpu")


def test_unknown_student_names_close_models(data):
    with pytest.raises(UnknownNameError, match="resnet8"):
        distill(toy_teacher(), "resnet9", *data, "flip", epochs=1, device="cpu")


def test_epochs_below_one_are_refused(data):
    with pytest.raises(InvalidArgumentError, match="epochs must be >= 1; got 0"):
        distill(toy_teacher(), "resnet8", *data, "flip", epochs=0, device="cpu")


def test_resume_with_another_configuration_names_the_difference(data, tmp_path):
    distill(toy_teacher(), "resnet8", *data, "flip", epochs=1, batch_size=12, device="cpu", out_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"seed: 0 in the directory, 1 now"):
        distill(toy_teacher(), "resnet8", *data, "flip", epochs=1, batch_size=12, seed=1, device="cpu",
                out_dir=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="already holds a training run"):
        distill(toy_teacher(), "resnet8", *data, "flip", epochs=1, batch_size=12, device="cpu", out_dir=tmp_path)


class _PoisonedTeacher(nn.Module):
    """Returns NaN logits from its ``after``-th call on."""

    def __init__(self, inner: nn.Module, after: int):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0
        self.arch, self.num_classes = inner.arch, inner.num_classes

    def forward(self, x):
        self.calls += 1
        logits = self.inner(x)
        return logits * float("nan") if self.calls > self.after else logits


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(data, tmp_path):
    teacher = _PoisonedTeacher(toy_teacher(), after=3)  # 2 steps per epoch: NaN at epoch 2, step 2
    with pytest.raises(NumericalError, match=r"epoch 2, step 2 of 2.*last good checkpoint"):
        distill(teacher, "resnet8", *data, "flip", epochs=3, batch_size=12, device="cpu", out_dir=tmp_path,
                checkpoint_every=1)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_a_stored_run_reingested_from_its_records_stays_one_row(data, tmp_path):
    import dastat.store
    from dastat.runs import record_runs
    from dastat.store.ingest import ingest

    store = dastat.store.open(tmp_path / "s.sqlite")
    result = distill(toy_teacher(), "resnet8", *data, "flip", epochs=1, batch_size=12, device="cpu",
                     out_dir=tmp_path / "run")
    record_runs(store, [result])
    ingest([tmp_path / "run" / "records.jsonl"], store)
    students = store.students()
    assert len(students) == 1 and students.loc[0, "run_id"] == result.run_id == result.record["run_id"]
    assert students.loc[0, "randomness"] == "sample"  # recorded, and kept through records.jsonl


def test_test_from_skips_scoring_before_it_and_changes_nothing_it_scores(data, tmp_path):
    import dastat.store
    from dastat.store.ingest import ingest

    every = distill(toy_teacher(), "resnet8", *data, "flip", epochs=3, batch_size=12, device="cpu")
    late = distill(toy_teacher(), "resnet8", *data, "flip", epochs=3, batch_size=12, device="cpu",
                   out_dir=tmp_path / "run", test_from=3, checkpoint_every=1)  # checkpoints before any score
    assert [row["test_loss"] is None for row in late.curve] == [True, True, False]
    # Scoring the test set draws no randomness and leaves the weights alone: the scored epoch is the same.
    for key in ("test_loss", "test_acc1", "train_loss"):
        assert late.curve[2][key] == every.curve[2][key]
        assert late.record[key] == every.record[key]
    assert late.record["best_epoch"] == 3 and late.record["best_test_loss"] == late.record["test_loss"]
    store = dastat.store.open(tmp_path / "s.sqlite")
    ingest([tmp_path / "run" / "records.jsonl"], store)
    assert store.curves()["test_loss"].isna().tolist() == [True, True, False]


@pytest.mark.parametrize("test_from", [0, 4, 1.5])
def test_test_from_outside_the_run_is_refused(data, test_from):
    with pytest.raises(InvalidArgumentError, match="test_from"):
        distill(toy_teacher(), "resnet8", *data, epochs=3, batch_size=12, device="cpu", test_from=test_from)
