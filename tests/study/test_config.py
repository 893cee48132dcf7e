"""Presets, --quick and study files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dastat.constants import PAPER_SCHEMES
from dastat.errors import ConfigError, UnknownNameError
from dastat.probe import ProbeOptions
from dastat.study import list_presets, load_config
from dastat.study.config import PAPER_PAIRS


def test_presets_are_listed():
    assert list_presets() == ["cifar100", "digits", "digits_few", "digits_ladder", "mnist_100", "mnist_1000",
                              "mnist_3000", "mnist_full", "tinyimagenet"]


def test_digits_preset_is_two_pairs_all_schemes_three_seeds():
    config = load_config("digits")
    assert len(config.pairs) == 2
    assert config.schemes == PAPER_SCHEMES and len(PAPER_SCHEMES) == 9
    assert config.seeds == (0, 1, 2)


def test_paper_presets_use_the_papers_four_pairs_and_recipe():
    for name in ("cifar100", "tinyimagenet"):
        config = load_config(name)
        assert config.pairs == PAPER_PAIRS
        assert config.epochs == 240 and config.batch_size == 64
        assert config.probe.set_blocks * config.probe.batch_size == 640  # K = 640 (docs/method.md, "Protocols")


def test_quick_shrinks_the_grid_but_keeps_the_student_scored_scheme():
    config = load_config("digits", quick=True)
    assert config.quick and len(config.pairs) == 1 and config.seeds == (0,) and config.epochs == 1
    assert "cutmixpick_s" in config.schemes
    assert config.probe.max_sets <= 10


def test_overrides_win_and_none_is_ignored():
    config = load_config("digits", quick=True, epochs=3, seeds=None)
    assert config.epochs == 3 and config.seeds == (0,)


def test_yaml_file_overrides_its_preset(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("preset: cifar100\nroot: /data\nepochs: 2\nprobe: {max_sets: 7, epochs: 3}\n"
                    "probe_protocols: [fast, paper]\n"
                    "pairs: [{teacher: resnet8, student: resnet8}]\n")
    config = load_config(path)
    assert config.data == "cifar100" and config.root == "/data" and config.epochs == 2
    assert config.probe == ProbeOptions(max_sets=7, epochs=3) and config.probe_protocols == ("fast", "paper")
    assert config.pairs == ({"teacher": "resnet8", "student": "resnet8"},)


@pytest.mark.parametrize(("text", "match"), [
    ("epoch: 3\n", "unknown keys"),
    ("schemes: [identity, cutmax]\n", "unknown scheme 'cutmax'. Did you mean 'cutmix'"),
    ("schemes: ['mixup(alpha=0)']\n", r"alpha must be in \(0, inf\)"),
    ("schemes: [mixup, 'mixup(alpha=1.0)']\n", r"listed twice"),
    ("probe_protocols: [slow]\n", "probe_protocols must be chosen from"),
    ("probe: {protocols: [fast]}\n", "give probe_protocols: "),
    ("probe: {max_set: 3}\n", "unknown probe option"),
    ("probe: {rtol: 1.5}\n", r"probe: rtol must be in \(0, 1\)"),
    ("pairs: [{teacher: resnet8}]\n", "pairs"),
    ("epochs: 0\n", "epochs must be an int >= 1"),
    ("- a list\n", "must hold a mapping"),
])
def test_bad_study_files_name_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_slurm_options_reach_the_plan(tmp_path):
    from dastat.study.pipeline import _plan

    config = load_config("digits", quick=True, slurm={"slurm_partition": "gpu", "timeout_min": 60})
    plan = _plan(config, [("t.pt", "resnet8")], ["identity"], [0], out=tmp_path, device="cuda")
    assert plan.slurm == {"slurm_partition": "gpu", "timeout_min": 60} and plan.out == tmp_path / "runs"
    (job,) = plan.jobs
    assert job.image_size == 16 and job.epochs == 1 and job.options["device"] == "cuda"
    assert Path(job.out_dir).parent == tmp_path / "runs"


def test_missing_file_and_unknown_preset():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("nowhere.yaml")
    with pytest.raises(UnknownNameError, match="digits"):
        load_config("digit")


def test_methods_are_part_of_the_grid_and_unknown_ones_are_refused():
    from dastat.errors import ConfigError

    assert load_config("digits").methods == ("kd",)
    config = load_config("digits", quick=True, methods=["kd", "crd"])
    assert config.methods == ("kd", "crd") and config.to_dict()["methods"] == ["kd", "crd"]
    with pytest.raises(ConfigError, match="methods must be a non-empty list from"):
        load_config("digits", methods=("kd", "crdd"))


def test_ladder_preset_has_32_or_more_schemes_on_digits_few_testbed():
    ladder, few = load_config("digits_ladder"), load_config("digits_few")
    assert len(ladder.schemes) >= 32 and len(set(ladder.schemes)) == len(ladder.schemes)
    assert set(PAPER_SCHEMES) <= set(ladder.schemes) and len(ladder.seeds) >= 3
    assert (ladder.pairs, ladder.train_images, ladder.epochs, ladder.image_size) == (
        few.pairs, few.train_images, few.epochs, few.image_size)
    from dastat import augment

    assert all(augment.canonical(s) == s for s in ladder.schemes)
    # safe in run directories and CSV cells: no path separator, colon, quote or space
    assert all(re.fullmatch(r"[a-z0-9_().,=+-]+", s) for s in ladder.schemes)


def test_study_files_may_spell_schemes_with_parameters(tmp_path):
    path = tmp_path / "ladder.yaml"
    path.write_text("preset: digits_few\nschemes: [identity, 'mixup( alpha=0.20 )', 'randaugment(n=2,m=9)']\n")
    assert load_config(path).schemes == ("identity", "mixup(alpha=0.2)", "randaugment")


def test_the_study_finds_student_scored_schemes_whatever_their_parameters():
    from dastat.study.pipeline import _student_scored

    config = load_config("digits", schemes=["identity", "cutmixpick_s(alpha=2)", "cutmixpick_kl", "cutmixpick_t"])
    assert _student_scored(config) == ["cutmixpick_s(alpha=2)", "cutmixpick_kl"]


def test_test_epochs_is_all_or_plateau():
    assert load_config("digits").test_from == 1  # every epoch
    assert load_config("digits", test_epochs="plateau").test_from == 24  # 30 epochs: the last 6 and the one before
    with pytest.raises(ConfigError, match="test_epochs must be one of"):
        load_config("digits", test_epochs="some")
