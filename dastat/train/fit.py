"""Plain cross-entropy training (teachers, and the embedded digits teacher)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from dastat import distributed as dd
from dastat.checks import check_float, check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.train import inputs
from dastat.train.loop import LoopSpec, Member, StepFn, Trainee, results, run_loop, summary
from dastat.train.result import TrainResult, final_metrics
from dastat.train.schedule import milestones_for


def fit(
    model: str | nn.Module,
    train_set: ImageTensorDataset,
    test_set: ImageTensorDataset,
    *,
    epochs: int,
    lr: float = 0.05,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    augment: Callable | None = None,
    milestones: list[int] | None = None,
    amp: bool = False,
    out_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    test_from: int = 1,
    resume: bool = False,
    progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a classifier with cross-entropy on hard labels (SGD 0.9 / 5e-4, step decay).

    Parameters
    ----------
    model : str or nn.Module
        A zoo name (built with ``num_classes`` and image size of ``train_set``, initial weights from
        ``seed``), a network (wrapped with the dataset's mean/std) or a ``dastat.models.Classifier``.
    train_set, test_set : ImageTensorDataset
        Moved to ``device`` once; every epoch is one shuffled pass over ``train_set``.
    epochs : int
        Epochs to run (>= 1).
    lr : float
        Initial learning rate, multiplied by 0.1 at ``milestones``.
    batch_size : int
        Images per step; the last short batch is kept.
    seed : int
        Decides the data order, the augmentation draws and (for a zoo name) the initial weights.
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]``.
    augment : callable, optional
        ``augment(x_uint8, generator=g) -> x``; default the standard per-sample crop (zero pad) + flip.
    milestones : list of int, optional
        Decay epochs; default 150/180/210 of 240 scaled to ``epochs``.
    amp : bool
        bf16 autocast.
    out_dir, checkpoint_every, test_from, resume, progress, on_step
        As in :func:`dastat.train.distill`.

    Returns
    -------
    TrainResult
        ``record`` holds the last and best epoch's test metrics; ``model`` is the trained Classifier.
    """
    train_set, test_set = inputs.check_datasets(train_set, test_set)
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0, low_open=True)
    batch_size = check_int(batch_size, "batch_size", low=1)
    seed = check_int(seed, "seed", low=0)
    dev = resolve_device(device)
    world, dev = dd.join(dev)

    classifier = inputs.as_classifier(model, train_set, seed=seed, role="model")
    inputs.check_classes(classifier, train_set, "model")
    classifier = classifier.to(dev)
    train_set, test_set = train_set.to(dev), test_set.to(dev)
    milestones = list(milestones) if milestones is not None else milestones_for(epochs)
    config = {"kind": "fit", "model": classifier.arch, "dataset": train_set.name, "n_train": len(train_set),
              "n_test": len(test_set), "image_size": train_set.image_size, "num_classes": train_set.num_classes,
              "seed": seed, "epochs": epochs, "lr": lr, "batch_size": batch_size, "milestones": milestones, "amp": amp,
              "world_size": world.size, **inputs.versions()}
    spec = LoopSpec(
        epochs=epochs, lr=lr, milestones=milestones, batch_size=batch_size, device=dev,
        augment=augment or inputs.standard_augment(train_set.image_size), amp=amp,
        checkpoint_every=checkpoint_every, test_from=test_from, resume=resume, progress=progress, on_step=on_step,
        world=world,
    )
    trainee = Trainee(classifier, [Member(seed, config, inputs.resolve_out_dir(out_dir))])

    def make_step(train_model: nn.Module, groups) -> StepFn:
        def step(xs: list[Tensor], labels: list[Tensor], index: list[Tensor]) -> Tensor:
            return F.cross_entropy(train_model(xs[0]).float(), labels[0])[None]  # [1]: one member

        return step

    def finish(m: Member) -> dict[str, Any]:
        return {"model": classifier.arch, "dataset": train_set.name, "seed": seed, "epochs": epochs,
                **final_metrics(summary(m), config)}

    run_loop(trainee, train_set, test_set, spec, make_step)
    return results(trainee, world, finish)[0]
