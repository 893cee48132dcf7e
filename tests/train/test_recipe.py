"""The training recipe: one settings object whose defaults and checks distill and distill_cohort share."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny import toy_split, toy_teacher

import dastat.train
from dastat.errors import InvalidArgumentError, UnknownNameError
from dastat.train import Recipe, distill, distill_cohort
from dastat.train.methods import get_method


def test_the_default_recipe_is_the_papers():
    recipe = Recipe()
    assert (recipe.method, recipe.gamma, recipe.alpha, recipe.epochs, recipe.batch_size) == ("kd", 0.1, 0.9, 240, 64)
    assert recipe.milestones == [150, 180, 210] and recipe.is_plain_kd


def test_a_changed_setting_brings_its_own_defaults():
    base = Recipe(epoch_factor=2)
    assert base.epochs == 480
    assert Recipe.of(base, epoch_factor=0.5).epochs == 120  # not the 480 base resolved
    crd = Recipe.of(base, method="crd")
    assert crd.beta == get_method("crd").beta and crd.epochs == 480 and not crd.is_plain_kd
    assert Recipe.of(crd, beta=None).beta == crd.beta  # None leaves a setting as it is


def test_bad_settings_are_refused_naming_the_setting():
    with pytest.raises(InvalidArgumentError, match=r"unknown training setting 'epoch'.*epochs"):
        Recipe.of(epoch=3)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        Recipe(batch_size=0)
    with pytest.raises(InvalidArgumentError, match="lr"):
        Recipe(lr=-1)
    with pytest.raises(UnknownNameError, match="crd"):
        Recipe(method="crdd")
    with pytest.raises(InvalidArgumentError, match="recipe must be"):
        Recipe.of({"epochs": 2})


def test_a_recipe_and_its_keywords_train_the_same_run():
    train_set, test_set = toy_split(24, "train"), toy_split(12, "test")
    recipe = Recipe(epochs=1, batch_size=12, lr=0.02)
    whole = distill(toy_teacher(), "resnet8", train_set, test_set, "flip", recipe=recipe, device="cpu")
    keywords = distill(toy_teacher(), "resnet8", train_set, test_set, "flip", epochs=1, batch_size=12, lr=0.02,
                       device="cpu")
    assert whole.record["config"] == keywords.record["config"] and whole.run_id == keywords.run_id
    assert whole.record["test_loss"] == keywords.record["test_loss"]
    with pytest.raises(InvalidArgumentError, match="unknown training setting 'store'"):
        distill_cohort(toy_teacher(), "resnet8", train_set, test_set, [("flip", 0)], recipe=recipe, store="s.sqlite")


def test_methods_is_the_package_and_list_methods_the_listing():
    assert inspect.ismodule(dastat.train.methods)
    assert "kd" in dastat.train.list_methods() and "crd" in dastat.train.list_methods()
