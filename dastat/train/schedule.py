"""The optimiser and learning-rate schedule of the paper's recipe (docs/method.md, "KD recipe")."""

from __future__ import annotations

import torch

BASE_EPOCHS = 240  # docs/method.md, "KD recipe"
BASE_MILESTONES = (150, 180, 210)  # docs/method.md, "KD recipe": lr x0.1 at these epochs of 240
LR_DECAY = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
# docs/method.md, "KD recipe" (the reference code's choice): the light students train at lr 0.01, the rest at 0.05.
_LOW_LR_STUDENTS = ("MobileNetV2", "ShuffleV1", "ShuffleV2")


def default_lr(student_arch: str | None) -> float:
    """0.01 for MobileNetV2, ShuffleV1 and ShuffleV2; 0.05 for every other student (docs/method.md, "KD recipe")."""
    return 0.01 if student_arch in _LOW_LR_STUDENTS else 0.05


def milestones_for(epochs: int) -> list[int]:
    """The decay epochs 150/180/210 of 240, scaled to ``epochs``.

    ``epochs = 240 * k`` gives exactly ``150k, 180k, 210k`` (the epoch factor of docs/method.md, "KD recipe");
    a short run (say 4 epochs) keeps the same proportions, rounded to whole epochs and kept >= 1.
    """
    return [max(1, round(m * epochs / BASE_EPOCHS)) for m in BASE_MILESTONES]


def make_optimizer(params, lr: float, *, momentum: float = MOMENTUM,
                   weight_decay: float = WEIGHT_DECAY) -> torch.optim.SGD:
    """SGD with momentum 0.9 and weight decay 5e-4 on every parameter, as the reference code."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, milestones: list[int]) -> torch.optim.lr_scheduler.LRScheduler:
    """Step decay by 0.1 at each milestone epoch (stepped once per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=LR_DECAY)
