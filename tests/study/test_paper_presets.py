"""The cifar100 and tinyimagenet presets on tiny fakes in the real on-disk layouts, a handful of steps."""

from __future__ import annotations

import torch

from dastat import models
from dastat import store as store_mod
from dastat.study import load_config, run_study


def test_cifar100_preset_uses_a_repdistiller_teacher_from_teacher_dir(tmp_path, fakes):
    fakes.make_cifar100(tmp_path / "data", n_train=40, n_test=20)
    # RepDistiller's teacher file: save/models/<arch>_vanilla/ckpt_epoch_240.pth
    # (docs/method.md, "Models and checkpoints")
    net = models.create("resnet8", num_classes=100)
    teacher_file = tmp_path / "save" / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    teacher_file.parent.mkdir(parents=True)
    torch.save({"epoch": 240, "model": net.state_dict(), "accuracy": 1.0, "optimizer": {}}, teacher_file)
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        f"preset: cifar100\nroot: {tmp_path / 'data'}\nteacher_dir: {tmp_path / 'save'}\n"
        "pairs: [{teacher: resnet8, student: resnet8}]\nquick: true\n"
        "schemes: [identity, flip, cutmix]\nseeds: [0]\nepochs: 1\nbatch_size: 8\n"
        "probe: {max_sets: 2, min_sets: 2, batch_size: 8}\n")
    config = load_config(study_file)
    assert config.data == "cifar100" and config.epochs == 1
    result = run_study(config, tmp_path / "out", device="cpu")
    assert result.failed == []
    assert result.teachers[0].origin == "teacher_dir" and result.teachers[0].path == str(teacher_file)
    store = store_mod.open(tmp_path / "out" / "dastat.sqlite")
    students = store.students()
    assert set(students["scheme"]) == {"identity", "flip", "cutmix"} and set(students["dataset"]) == {"cifar100"}
    assert (students["teacher_checksum"] == models.load_teacher(teacher_file).checksum).all()
    assert len(store.probes()) == 3
    assert (tmp_path / "out" / "report.md").is_file()


def test_tinyimagenet_preset_trains_a_missing_teacher_and_probes_both_protocols(tmp_path, fakes):
    fakes.make_tinyimagenet(tmp_path / "data", per_class=4, val_per_class=2)
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        f"preset: tinyimagenet\nroot: {tmp_path / 'data'}\nteacher_dir: {tmp_path / 'nothing'}\n"
        "pairs: [{teacher: resnet8, student: resnet8}]\nteacher_epochs: 1\n"
        "schemes: [identity, flip]\nseeds: [0]\nepochs: 1\nbatch_size: 4\nquick: true\n"
        "probe: {max_sets: 2, min_sets: 2, epochs: 4, batch_size: 4}\nprobe_protocols: [fast, paper]\n")
    result = run_study(load_config(study_file), tmp_path / "out", device="cpu")
    assert result.failed == []
    assert result.teachers[0].origin == "trained" and result.teachers[0].epochs == 1
    probes = store_mod.open(tmp_path / "out" / "dastat.sqlite").probes()
    assert set(zip(probes["protocol"], probes["scheme"])) == {
        ("fast", "identity"), ("fast", "flip"), ("paper", "identity"), ("paper", "flip")}
    assert set(probes["dataset"]) == {"tinyimagenet"}
    teacher = models.load_teacher(result.teachers[0].path)
    assert teacher.num_classes == 3
