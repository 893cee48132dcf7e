"""Test metrics as docs/method.md, "KD recipe" defines them: hard-label CE per sample, top-1 and top-5 accuracy."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from dastat.data.dataset import ImageTensorDataset

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
    was_training = model.training
    model.eval()
    device = dataset.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hits1 = torch.zeros((), dtype=torch.int64, device=device)
    hits5 = torch.zeros((), dtype=torch.int64, device=device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if amp and device.type == "cuda"
                else contextlib.nullcontext())
    try:
        with torch.inference_mode(), autocast:
            for index in dataset.batches(batch_size):
                labels = dataset.labels[index]
                logits = model(dataset.images[index]).float()  # [B, C]
                loss_sum += F.cross_entropy(logits, labels, reduction="sum").double()
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices  # [B, k]
                correct = top == labels[:, None]
                hits1 += correct[:, 0].sum()
                hits5 += correct.any(dim=1).sum()
    finally:
        model.train(was_training)
    n = len(dataset)
    # Metrics stay tensors over the loop and meet .item() once (STYLE §1, airbench).
    return {
        "test_loss": loss_sum.item() / n,
        "test_acc1": 100.0 * hits1.item() / n,
        "test_acc5": 100.0 * hits5.item() / n,
    }
