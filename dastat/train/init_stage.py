"""The pre-training stage of two-stage methods (AB, FT, FSP), before the distillation epochs.

As RepDistiller's ``helper/pretrain.py``: for ``init_epochs`` epochs over the training set (standard
crop + flip, no scheme), the method's pre-training modules alone are optimised on its ``init_loss``
with the trainer's SGD settings (momentum 0.9, weight decay 5e-4), teacher in eval mode. AB and FSP
train the student's feature layers (BatchNorm in train mode); FT trains its paraphraser only.
"""

from __future__ import annotations

import torch
from torch import nn

from dastat.data.dataset import ImageTensorDataset
from dastat.device import autocast
from dastat.rng import stream
from dastat.train.schedule import make_optimizer

INIT_EPOCHS = 30  # RepDistiller's --init_epochs, for its 240-epoch runs


def default_init_epochs(epochs: int) -> int:
    """``30 * epochs / 240`` rounded, at least 1: the reference's share of the run, as the lr milestones scale."""
    return max(1, round(INIT_EPOCHS * epochs / 240))


def run_init_stage(term: nn.Module, student: nn.Module, teacher: nn.Module, train_set: ImageTensorDataset, *,
                   epochs: int, lr: float, batch_size: int, seed: int, augment, amp: bool = False) -> list[float]:
    """Pre-train ``term``'s modules (and the student's feature layers for AB/FSP); returns each epoch's mean loss.

    Draws come from the run's ``init:order`` and ``init:base`` streams, so the stage is the same for a
    seed; a resumed run skips it (its checkpoint holds what the stage produced).
    """
    device = train_set.images.device
    g_order, g_base = stream(seed, "init:order", device), stream(seed, "init:base", device)
    params = term.init_parameters(student)
    frozen = [p for p in params if not p.requires_grad]
    for p in frozen:
        p.requires_grad_(True)
    optimizer = make_optimizer(params, term.init_lr(lr))
    teacher.eval()
    student.train(term.init_trains_student)
    term.train()
    epoch_losses = []
    try:
        for _ in range(epochs):
            order = torch.randperm(len(train_set), generator=g_order, device=device)
            total = torch.zeros((), device=device)
            for index in order.split(batch_size):
                x = augment(train_set.images[index], generator=g_base)
                with autocast(device, amp):
                    with torch.inference_mode():
                        feat_t, _ = teacher(x, is_feat=True, preact=term.preact)
                    feat_t = [f.clone() for f in feat_t]  # inference tensors cannot enter autograd
                    feat_s = student(x, is_feat=True, preact=term.preact)[0] if term.init_trains_student else None
                    loss = term.init_loss(feat_s, feat_t)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(index)
            epoch_losses.append(float(total / len(train_set)))
    finally:
        for p in frozen:
            p.requires_grad_(False)
    return epoch_losses
