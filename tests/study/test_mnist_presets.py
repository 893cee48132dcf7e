"""The MNIST regime presets: one study per students' pool, sharing one teacher recipe."""

from __future__ import annotations

import pytest

from dastat.constants import PAPER_SCHEMES
from dastat.study import load_config
from dastat.study.config import MNIST_POOL_EPOCHS
from dastat.study.pipeline import _plan

NAMES = ("mnist_100", "mnist_1000", "mnist_3000", "mnist_full")


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_is_the_papers_nine_schemes_on_mnist_with_three_seeds(name):
    config = load_config(name)
    assert config.data == "mnist" and config.schemes == PAPER_SCHEMES and len(config.seeds) >= 3
    assert config.epochs == MNIST_POOL_EPOCHS[config.train_images]
    assert f"{config.epochs} epochs" in config.notes


def test_pools_are_100_1000_and_3000_images_and_the_full_split():
    assert [load_config(n).train_images for n in NAMES] == [100, 1000, 3000, None]


def test_the_presets_differ_only_in_the_students_pool_and_epochs():
    # Same teacher recipe and data: a teacher trained by one preset serves the others.
    configs = [load_config(n).to_dict() for n in NAMES]
    for config in configs:
        for key in ("name", "train_images", "epochs", "notes"):
            config.pop(key)
    assert all(config == configs[0] for config in configs)


def test_the_pool_reaches_the_students_as_a_train_only_option(tmp_path):
    config = load_config("mnist_1000", quick=True)
    plan = _plan(config, [("t.pt", "resnet8")], ["identity"], [0], out=tmp_path, device="cpu")
    assert [(j.dataset, j.train_options, j.image_size) for j in plan.jobs] == [("mnist", {"max_images": 1000}, 16)]


@pytest.mark.parametrize("name", NAMES)
def test_students_score_the_test_split_over_the_plateau_window_only(name, tmp_path):
    config = load_config(name)
    epochs = config.epochs
    # The plateau rule reads the last 20% of the epochs and the one before: the first scored epoch is that one.
    assert config.test_epochs == "plateau" and config.test_from == epochs - -(-epochs // 5)
    plan = _plan(config, [("t.pt", "resnet8")], ["identity"], [0], out=tmp_path, device="cpu")
    assert plan.jobs[0].options["test_from"] == config.test_from
