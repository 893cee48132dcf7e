"""Checkpoint layouts, architecture inference, saving, and every bad input with its message."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dastat.errors import CheckpointError, DastatError, UnknownNameError, UntrustedCheckpointError
from dastat.models import create, load_student, load_teacher, save_checkpoint, wrap
from dastat.models import embedded as embedded_module
from dastat.models.normalisation import CIFAR100, IMAGENET

MEAN, STD = (0.1, 0.2, 0.3), (0.3, 0.2, 0.1)


@pytest.fixture(scope="module")
def small():
    """A resnet8 with 10 classes and non-default weights, its state_dict and a fixed input."""
    torch.manual_seed(0)
    net = create("resnet8", num_classes=10).eval()
    with torch.no_grad():
        for p in net.state_dict().values():
            if p.is_floating_point():
                p.add_(torch.rand_like(p) * 0.1)
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return net, net.state_dict(), x


def _logits_of(model, x):
    with torch.no_grad():
        return model(x)


def _expected(small, mean=CIFAR100[0], std=CIFAR100[1]):
    net, _, x = small
    return _logits_of(wrap(net, mean, std), x)


def _write(path: Path, obj, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path, **kw)
    return path


# ---- layouts -------------------------------------------------------------------------------


def test_repdistiller_layout_with_arch_from_folder(small, tmp_path):
    net, sd, x = small
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9).state_dict()
    path = _write(tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth",
                  {"epoch": 240, "model": sd, "accuracy": torch.tensor(71.5), "optimizer": opt})
    teacher = load_teacher(path)
    assert (teacher.arch, teacher.num_classes) == ("resnet8", 10)
    assert teacher.source["layout"] == "repdistiller" and teacher.source["arch_from"].startswith("folder")
    assert teacher.mean == CIFAR100[0] and teacher.std == CIFAR100[1]  # RepDistiller's CIFAR-100 default
    assert teacher.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not teacher.training
    torch.testing.assert_close(_logits_of(teacher, x), _expected(small), rtol=0, atol=0)


def test_wrn_folder_rule_keeps_three_tokens(tmp_path):
    sd = create("wrn_16_1", num_classes=10).state_dict()
    path = _write(tmp_path / "wrn_16_1_cifar100_lr_0.05_decay_0.0005_trial_0" / "ckpt_epoch_40.pth",
                  {"epoch": 40, "model": sd, "best_acc": torch.tensor(1.0)})
    assert load_teacher(path).arch == "wrn_16_1"


def test_dataparallel_prefix_is_stripped(small, tmp_path):
    _, sd, x = small
    prefixed = {f"module.{k}": v for k, v in sd.items()}
    path = _write(tmp_path / "S:resnet8_T:resnet20_cifar100_kd_r:0.1_a:0.9_b:0.0_1" / "ckpt.pth",
                  {"epoch": 3, "model": prefixed, "accuracy": torch.tensor(5.0), "optimizer": None, "ExpID": "X"})
    student = load_student(path)
    assert student.arch == "resnet8" and student.source["layout"].endswith("+module.")
    torch.testing.assert_close(_logits_of(student, x), _expected(small), rtol=0, atol=0)


def test_mdistiller_layout_infers_arch_from_keys(small, tmp_path):
    _, sd, x = small
    path = _write(tmp_path / "student_best", {"model": sd})
    student = load_teacher(path)
    assert student.arch == "resnet8" and student.source["arch_from"] == "key match"
    assert student.source["layout"] == "mdistiller"
    torch.testing.assert_close(_logits_of(student, x), _expected(small), rtol=0, atol=0)


def test_torchdistill_layout_with_namespace_args(small, tmp_path):
    _, sd, x = small
    obj = {"model": sd, "optimizer": {}, "best_value": 71.2, "lr_scheduler": {"last_epoch": 3},
           "args": argparse.Namespace(config="configs/kd.yaml", seed=0)}
    path = _write(tmp_path / "ckpt" / "resnet8_kd.pt", obj)
    teacher = load_teacher(path, mean=MEAN, std=STD)
    assert teacher.source["layout"] == "torchdistill"
    assert teacher.mean == MEAN and teacher.std == STD and teacher.source["normalisation_from"] == "argument"
    torch.testing.assert_close(_logits_of(teacher, x), _expected(small, MEAN, STD), rtol=0, atol=0)


def test_bare_state_dict_with_explicit_arch(small, tmp_path):
    _, sd, x = small
    path = _write(tmp_path / "weights.pth", sd)
    teacher = load_teacher(path, arch="resnet8", num_classes=10)
    assert teacher.source["layout"] == "state_dict"
    torch.testing.assert_close(_logits_of(teacher, x), _expected(small), rtol=0, atol=0)


def test_repdistiller_last_file_names_arch_in_its_options(small, tmp_path):
    _, sd, _ = small
    path = _write(tmp_path / "x" / "resnet8_last.pth", {"opt": argparse.Namespace(model="resnet8"), "model": sd})
    teacher = load_teacher(path)
    assert teacher.arch == "resnet8" and teacher.source["arch_from"] == "checkpoint"


def test_numpy_scalars_are_allowed(small, tmp_path):
    _, sd, _ = small
    path = _write(tmp_path / "resnet8_vanilla" / "c.pth",
                  {"epoch": np.int64(240), "model": sd, "accuracy": np.float64(71.5), "optimizer": None})
    assert load_teacher(path).arch == "resnet8"


def test_old_files_without_batchnorm_counters_load(small, tmp_path):
    _, sd, x = small
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    path = _write(tmp_path / "resnet8_vanilla" / "old.pth", {"epoch": 1, "model": old, "accuracy": 0.0})
    torch.testing.assert_close(_logits_of(load_teacher(path), x), _expected(small), rtol=0, atol=0)


def test_dataset_sets_normalisation_and_image_size(tmp_path):
    sd = create("resnet8", num_classes=200).state_dict()
    path = _write(tmp_path / "resnet8_vanilla" / "tiny.pth", {"model": sd})
    teacher = load_teacher(path, dataset="tinyimagenet")
    assert teacher.mean == IMAGENET[0] and teacher.std == IMAGENET[1]
    assert teacher.image_size == 64 and teacher.num_classes == 200


def test_torchvision_state_dict_loads_with_imagenet_default(tmp_path):
    import torchvision

    sd = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    path = _write(tmp_path / "tv_resnet18_vanilla" / "ckpt.pth", {"model": sd})
    teacher = load_teacher(path)
    assert teacher.arch == "tv_resnet18" and teacher.mean == IMAGENET[0]


# ---- dastat's own format ------------------------------------------------------------------


def test_save_checkpoint_round_trip(small, tmp_path):
    net, _, x = small
    model = wrap(net, MEAN, STD)
    path = save_checkpoint(model, tmp_path / "deep" / "teacher.pt", test_acc1=np.float64(97.5), epochs=30)
    assert path.exists() and not list(path.parent.glob(".*tmp*"))  # renamed into place
    loaded = load_teacher(path)  # nothing inferred: everything is stored
    assert loaded.source["layout"] == "dastat"
    assert loaded.source["arch_from"] == "checkpoint" and loaded.source["normalisation_from"] == "checkpoint"
    assert (loaded.arch, loaded.num_classes, loaded.image_size) == ("resnet8", 10, 32)
    assert loaded.mean == MEAN and loaded.std == STD
    assert loaded.source["meta"]["test_acc1"] == 97.5 and loaded.source["meta"]["epochs"] == 30
    torch.testing.assert_close(_logits_of(loaded, x), _logits_of(model, x), rtol=0, atol=0)
    # RepDistiller-style code reads the bare weights under 'model'.
    assert set(torch.load(path, weights_only=True)["model"]) == set(net.state_dict())


def test_save_checkpoint_of_a_bare_network_with_metadata(tmp_path):
    path = save_checkpoint(create("wrn_16_1", num_classes=10), tmp_path / "s.pt", mean=MEAN, std=STD)
    loaded = load_teacher(path)
    assert loaded.arch == "wrn_16_1" and loaded.mean == MEAN


def test_save_checkpoint_needs_an_arch_and_plain_metadata(tmp_path):
    with pytest.raises(DastatError, match="architecture name"):
        save_checkpoint(nn.Linear(3, 2), tmp_path / "a.pt")
    with pytest.raises(DastatError, match="cannot be stored safely"):
        save_checkpoint(create("resnet8", num_classes=10), tmp_path / "b.pt", note=object())
    assert not list(tmp_path.iterdir())


# ---- bad input ----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint file not found: .*nope\.pth"):
        load_teacher(tmp_path / "nope.pth")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a file"):
        load_teacher(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, I am not a checkpoint\n", b"PK\x03\x04garbage"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "resnet8_vanilla" / "ckpt.pth"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"empty|cannot read .* as a PyTorch checkpoint"):
        load_teacher(path)


def test_truncated_file(small, tmp_path):
    _, sd, _ = small
    path = _write(tmp_path / "resnet8_vanilla" / "ckpt.pth", {"model": sd})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or not a checkpoint"):
        load_teacher(path)


def test_unknown_arch_lists_close_names(small, tmp_path):
    path = _write(tmp_path / "w.pth", small[1])
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnet9'.*'resnet8'"):
        load_teacher(path, arch="resnet9")


def test_key_mismatch_lists_keys_and_suggests_the_arch_that_fits(small, tmp_path):
    path = _write(tmp_path / "w.pth", small[1])
    with pytest.raises(CheckpointError) as info:
        load_teacher(path, arch="resnet20")
    text = str(info.value)
    assert "does not fit architecture 'resnet20'" in text
    assert "missing keys (layer1.1." in text
    assert "pass arch='resnet8'" in text


def test_key_mismatch_with_shapes_and_no_fitting_arch(small, tmp_path):
    sd = dict(small[1])
    sd["conv1.weight"] = torch.zeros(16, 3, 5, 5)
    path = _write(tmp_path / "resnet8_vanilla" / "w.pth", {"model": sd})
    with pytest.raises(CheckpointError, match=r"wrong shapes \(conv1.weight: checkpoint \[16, 3, 5, 5\] vs model "
                                              r"\[16, 3, 3, 3\]\).*closest is 'resnet8'"):
        load_teacher(path)


def test_class_count_mismatch(small, tmp_path):
    path = _write(tmp_path / "resnet8_vanilla" / "w.pth", {"model": small[1]})
    with pytest.raises(CheckpointError, match=r"class-count mismatch.*'fc.weight'\) has 10 classes.*asked for has 100"):
        load_teacher(path, num_classes=100)
    with pytest.raises(CheckpointError, match=r"class-count mismatch.*dataset 'cifar100' has 100"):
        load_teacher(path, dataset="cifar100")


def test_unknown_architecture_cannot_be_inferred(tmp_path):
    path = _write(tmp_path / "mine" / "w.pth", nn.Sequential(nn.Linear(4, 3)).state_dict())
    with pytest.raises(CheckpointError, match=r"cannot tell the architecture .*Pass arch="):
        load_teacher(path)


def test_dict_without_weights(tmp_path):
    path = _write(tmp_path / "w.pth", {"epoch": 3, "accuracy": 1.0})
    with pytest.raises(CheckpointError, match=r"holds no model weights: its top-level keys are 'epoch', 'accuracy'"):
        load_teacher(path)


class _Plant:
    """Unpickling this runs os.system and plants a file: what a malicious checkpoint does."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_pickle_is_refused_and_never_runs(small, tmp_path, zipped):
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "resnet8_vanilla" / "evil.pth", {"model": small[1], "x": _Plant(marker)},
                  _use_new_zipfile_serialization=zipped)
    with pytest.raises(UntrustedCheckpointError) as info:
        load_teacher(path)
    assert "--trust-checkpoint" in str(info.value) and "trust=True" in str(info.value)
    assert "system" in str(info.value)
    assert not marker.exists()


def test_trust_allows_other_classes(small, tmp_path):
    path = _write(tmp_path / "resnet8_vanilla" / "c.pth", {"model": small[1], "day": datetime.date(2022, 11, 28)})
    with pytest.raises(UntrustedCheckpointError, match=r"datetime\.date"):
        load_teacher(path)
    assert load_teacher(path, trust=True).arch == "resnet8"


# ---- embedded teacher ---------------------------------------------------------------------


def test_missing_embedded_teacher_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded_module, "EMBEDDED_TEACHER", tmp_path / "digits_teacher.pt")
    with pytest.raises(DastatError, match=r"python -m dastat\.train\.embedded"):
        embedded_module.embedded_teacher()


def test_embedded_teacher_is_ready_to_use():
    if not embedded_module.EMBEDDED_TEACHER.exists():
        pytest.skip("dastat/assets/digits_teacher.pt not generated yet")
    teacher = embedded_module.embedded_teacher()
    assert teacher.arch == "resnet8" and teacher.num_classes == 10 and not teacher.training
    assert embedded_module.EMBEDDED_TEACHER.stat().st_size <= 2 * 1024 * 1024
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    with torch.no_grad():
        assert teacher(x).shape == (2, 10)


def test_a_loaded_dataset_gives_stats_size_and_class_check(small, tmp_path):
    from dastat.data.dataset import ImageTensorDataset

    def dataset(num_classes):
        return ImageTensorDataset(
            images=torch.zeros(num_classes, 3, 32, 32, dtype=torch.uint8), labels=torch.arange(num_classes),
            classes=[str(i) for i in range(num_classes)], mean=MEAN, std=STD, name="mine")

    path = _write(tmp_path / "resnet8_vanilla" / "w.pth", {"model": small[1]})
    teacher = load_teacher(path, dataset=dataset(10))
    assert teacher.mean == MEAN and teacher.std == STD and teacher.source["normalisation_from"] == "dataset mine"
    with pytest.raises(CheckpointError, match=r"class-count mismatch.*dataset 'mine' has 12"):
        load_teacher(path, dataset=dataset(12))
