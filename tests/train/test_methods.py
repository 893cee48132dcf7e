"""Every registered method trains end to end on the embedded digits; CRD's negatives; refusals."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from dastat import data, models
from dastat.errors import InvalidArgumentError, UnknownNameError
from dastat.train import distill, list_methods
from dastat.train.methods.crd import OtherClassNegatives

sys.path.insert(0, str(Path(__file__).parent))
from method_cases import OPTIONS, by_default_or_slow


@pytest.fixture(scope="module")
def digits():
    train = data.load("digits", split="train")
    test = data.load("digits", split="test")
    return train.subset(torch.arange(16)), test.subset(torch.arange(8)), models.embedded_teacher()


@pytest.mark.parametrize("name", by_default_or_slow(m for m in list_methods()))
def test_method_trains_on_the_embedded_digits(digits, name):
    train, test, teacher = digits
    result = distill(teacher, "resnet8", train, test, "cutmix", method=name, epochs=1, batch_size=16, device="cpu",
                     method_options=OPTIONS.get(name))
    rec = result.record
    assert rec["method"] == name and math.isfinite(rec["train_loss"]) and math.isfinite(rec["test_loss"])
    if name != "kd":
        assert rec["config"]["method"] == name and rec["config"]["beta"] == pytest.approx(
            {"abound": 1, "factor": 200, "fsp": 50}.get(name, rec["config"]["beta"]))


def test_plain_kd_adds_no_configuration(digits):
    # So that plain KD's run ids, and resumes of its existing runs, are those of before methods existed.
    train, test, teacher = digits
    config = distill(teacher, "resnet8", train, test, "flip", epochs=1, batch_size=8, device="cpu").record["config"]
    assert not {"method", "gamma", "alpha", "beta", "method_options"} & set(config)


def test_crd_negatives_are_other_classes_and_replay_with_the_seed():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 2, 2, 0, 1])
    draw = OtherClassNegatives(labels, 500)
    index = torch.arange(10)
    rows = draw(index, torch.Generator().manual_seed(0))
    assert rows.shape == (10, 501) and torch.equal(rows[:, 0], index)
    assert (labels[rows[:, 1:]] != labels[index][:, None]).all()
    # Uniform over the other classes' samples: each of sample 0's 7 candidates about 500/7 times.
    counts = torch.bincount(rows[0, 1:], minlength=10).float()
    pool = labels != labels[0]
    assert (counts[~pool] == 0).all()
    p = 1 / 7
    sd = math.sqrt(500 * p * (1 - p))
    assert ((counts[pool] - 500 * p).abs() < 4 * sd).all()
    assert torch.equal(rows, draw(index, torch.Generator().manual_seed(0)))


def test_bad_method_arguments_are_refused(digits):
    train, test, teacher = digits
    with pytest.raises(UnknownNameError, match="'crd'"):
        distill(teacher, "resnet8", train, test, method="crdd", epochs=1, device="cpu")
    with pytest.raises(InvalidArgumentError, match="takes no option 'nce_q'; its options: feat_dim, nce_k"):
        distill(teacher, "resnet8", train, test, method="crd", method_options={"nce_q": 3}, epochs=1, device="cpu")
    with pytest.raises(InvalidArgumentError, match="beta must be in"):
        distill(teacher, "resnet8", train, test, method="crd", beta=-1, epochs=1, device="cpu")
