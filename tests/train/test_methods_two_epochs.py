"""Every distillation method trains two epochs on the embedded default at its default settings, or stops with
the trainer's divergence message naming what to lower; never an internal error (kdsvd's SVD was one)."""

from __future__ import annotations

import math

import pytest
import torch

from dastat import data, models
from dastat.errors import NumericalError
from dastat.train import distill, list_methods
from dastat.train.methods.kdsvd import KDSVD

# Plain KD and kdsvd (whose SVD once crashed) run two epochs on every test run; the others, which
# tests/train/test_methods.py runs for one epoch, are marked slow here (about 6 s each at load 8).
FAST = ("kd", "kdsvd")


def _two_epochs(name: str, train, test, batch_size: int = 64) -> None:
    try:
        result = distill(models.embedded_teacher(), "resnet8", train, test, "cutmix", method=name, epochs=2,
                         batch_size=batch_size, device="cpu")
    except NumericalError as err:  # a diverged run says so, and which option to lower
        assert "--lr" in str(err) or "--beta" in str(err) or "learning rate" in str(err), err
        return
    assert math.isfinite(result.record["train_loss"]) and math.isfinite(result.record["test_loss"])


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in list_methods()])
def test_every_method_trains_two_epochs_on_tiny_digits(name):
    # 32 training images in batches of 16: 2 steps an epoch, each method's code on real data, at its defaults.
    train, test = data.load("digits", split="train", max_images=32), data.load("digits", split="test", max_images=16)
    _two_epochs(name, train, test, batch_size=16)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_methods())
def test_every_method_trains_two_epochs_on_the_embedded_default(name):
    # The whole embedded default (1,437 training images, 23 steps an epoch): kdsvd's SVD gradient first went
    # non-finite at the second step of epoch 2. About 2 CPU-minutes per method.
    _two_epochs(name, data.load("digits", split="train"), data.load("digits", split="test"))


def _maps_with_repeated_singular_values() -> torch.Tensor:
    # Every position of a map holds the same channel vector: one singular value, the others all zero.
    g = torch.Generator().manual_seed(0)
    column = torch.rand(2, 8, 1, 1, generator=g)
    return column.expand(2, 8, 4, 4).contiguous()


def test_kdsvd_gradient_stays_finite_where_singular_values_repeat():
    teacher = [torch.rand(2, 8, 4, 4, generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    student = [_maps_with_repeated_singular_values().requires_grad_() for _ in range(2)]
    sum(KDSVD(1)(student, teacher)).backward()
    assert all(torch.isfinite(s.grad).all() for s in student)


def test_kdsvd_on_diverged_features_stops_with_the_divergence_message():
    diverged = torch.full((2, 8, 4, 4), float("nan"))
    with pytest.raises(NumericalError, match="--beta"):
        KDSVD(1)([diverged, diverged], [torch.rand(2, 8, 4, 4), torch.rand(2, 8, 4, 4)])
