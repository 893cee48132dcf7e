"""Turning user arguments into what the loop runs: models, device, epochs, the standard DA."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

import dastat
from dastat.checks import check_class_count, check_float, check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.errors import InvalidArgumentError
from dastat.rng import derive_seed
from dastat.train.schedule import BASE_EPOCHS


def check_datasets(train_set: object, test_set: object) -> tuple[ImageTensorDataset, ImageTensorDataset]:
    for value, name in ((train_set, "train_set"), (test_set, "test_set")):
        if not isinstance(value, ImageTensorDataset):
            raise InvalidArgumentError(
                f"{name} must be an ImageTensorDataset (from dastat.data.load); got {type(value).__name__}"
            )
    if len(train_set) == 0 or len(test_set) == 0:
        raise InvalidArgumentError("train_set and test_set must hold at least one image each")
    if train_set.num_classes != test_set.num_classes:
        raise InvalidArgumentError(
            f"train_set has {train_set.num_classes} classes but test_set has {test_set.num_classes}; "
            "load both splits of the same dataset"
        )
    if train_set.image_size != test_set.image_size:
        raise InvalidArgumentError(
            f"train_set images are {train_set.image_size} px but test_set images are {test_set.image_size} px"
        )
    return train_set, test_set


def resolve_epochs(epochs: int | None, epoch_factor: float) -> tuple[int, float]:
    """Epochs to run: ``epochs`` when given, else 240 x ``epoch_factor`` (docs/method.md, "KD recipe")."""
    epoch_factor = check_float(epoch_factor, "epoch_factor", low=0, low_open=True)
    if epochs is None:
        epochs = round(BASE_EPOCHS * epoch_factor)
        if epochs < 1:
            raise InvalidArgumentError(f"epoch_factor {epoch_factor} gives {epochs} epochs; it must give >= 1")
    return check_int(epochs, "epochs", low=1), epoch_factor


def as_classifier(model: str | nn.Module, dataset: ImageTensorDataset, *, seed: int, role: str) -> nn.Module:
    """A ``dastat.models.Classifier`` from a zoo name or a network (wrapped with the dataset's mean/std)."""
    from dastat import models

    if isinstance(model, str):
        # Module constructors draw initial weights from torch's global RNG; fork it so the seed decides
        # the weights without leaving a trace in the caller's global state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, f"init:{role}"))
            net = models.create(model, num_classes=dataset.num_classes, image_size=dataset.image_size)
        return models.wrap(net, dataset.mean, dataset.std, arch=model)
    if isinstance(model, models.Classifier):
        return model
    if isinstance(model, nn.Module):
        return models.wrap(model, dataset.mean, dataset.std)
    raise InvalidArgumentError(
        f"{role} must be a model name (see dastat.models.list_models()) or a torch.nn.Module; "
        f"got {type(model).__name__}"
    )


def check_classes(model: nn.Module, dataset: ImageTensorDataset, role: str) -> None:
    """The model's outputs must match the dataset's classes."""
    check_class_count(getattr(model, "num_classes", None), dataset.num_classes,
                      model=f"the {role} ({getattr(model, 'arch', type(model).__name__)})",
                      against=f"dataset {dataset.name!r}",
                      fix=f"use a {role} trained on this dataset (or one with the same class count)")


def standard_augment(image_size: int):
    """The standard per-sample random crop (zero padding) + flip that makes x (docs/method.md, "KD recipe")."""
    from dastat import augment

    return augment.standard(image_size)


def versions() -> dict[str, Any]:
    return {"dastat_version": dastat.__version__, "torch_version": str(torch.__version__),
            "python_version": platform.python_version()}


def resolve_out_dir(out_dir: str | Path | None) -> Path | None:
    return None if out_dir is None else Path(out_dir)
