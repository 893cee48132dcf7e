"""Test metrics as docs/method.md, "KD recipe" defines them: hard-label CE per sample, top-1 and top-5 accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dastat.data.dataset import ImageTensorDataset
from dastat.device import autocast

EVAL_BATCH_SIZE = 256


def evaluate(model: nn.Module, dataset: ImageTensorDataset, *, batch_size: int = EVAL_BATCH_SIZE,
             amp: bool = False) -> dict[str, float]:
    """Test loss and accuracy of ``model`` on ``dataset``, without augmentation.

    Parameters
    ----------
    model : nn.Module
        Takes uint8 images [B,3,H,W] (a ``dastat.models.Classifier``) and returns logits [B, C].
    dataset : ImageTensorDataset
        Already on the model's device.
    batch_size : int
        Images per forward; does not change the result beyond float summation order.
    amp : bool
        Forward under bf16 autocast (CUDA only).

    Returns
    -------
    dict
        ``test_loss`` (cross-entropy against the hard labels, mean per sample), ``test_acc1`` and
        ``test_acc5`` (percent, as the reference logs; top-5 is top-C when there are fewer classes).
    """
    return evaluate_members(model, dataset, None, batch_size=batch_size, amp=amp)[0]


def evaluate_members(model: nn.Module, dataset: ImageTensorDataset, n: int | None, *,
                     batch_size: int = EVAL_BATCH_SIZE, amp: bool = False) -> list[dict[str, float]]:
    """:func:`evaluate` for a fused cohort: ``model`` maps ``n`` batches to logits ``[n, B, C]``.

    ``n=None``: a plain classifier (``[B, C]`` logits), one member. Returns one dict per member.
    """
    fused, n = n is not None, n or 1
    was_training = model.training
    model.eval()
    device = dataset.device
    loss_sum = torch.zeros(n, dtype=torch.float64, device=device)
    hits1 = torch.zeros(n, dtype=torch.int64, device=device)
    hits5 = torch.zeros(n, dtype=torch.int64, device=device)
    try:
        with torch.inference_mode(), autocast(device, amp and device.type == "cuda"):
            for index in dataset.batches(batch_size):
                labels = dataset.labels[index]
                images = dataset.images[index]
                logits = (model([images] * n) if fused else model(images)[None]).float()  # [n, B, C]
                for i in range(n):
                    loss_sum[i] += F.cross_entropy(logits[i], labels, reduction="sum").double()
                k = min(5, logits.shape[-1])
                top = logits.topk(k, dim=-1).indices  # [n, B, k]
                correct = top == labels[:, None]
                hits1 += correct[..., 0].sum(-1)
                hits5 += correct.any(dim=-1).sum(-1)
    finally:
        model.train(was_training)
    count = len(dataset)
    # Metrics stay tensors over the loop and meet .tolist() once: one host sync per evaluation.
    return [{"test_loss": loss / count, "test_acc1": 100.0 * h1 / count, "test_acc5": 100.0 * h5 / count}
            for loss, h1, h5 in zip(loss_sum.tolist(), hits1.tolist(), hits5.tolist())]
