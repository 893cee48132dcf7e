"""Hinton's KD on logits (RepDistiller ``DistillKL``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_float
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import PairShapes


class DistillKL(nn.Module):
    """``T^2 * sum KL(softmax(y_t/T) || softmax(y_s/T)) / B``.

    Parameters
    ----------
    T : float
        Softening temperature (the paper's recipe uses 4).
    """

    def __init__(self, T: float = 4.0):
        super().__init__()
        self.T = check_float(T, "T", low=0, low_open=True)

    def forward(self, y_s: Tensor, y_t: Tensor) -> Tensor:
        """Scalar loss of student logits ``y_s`` against teacher logits ``y_t`` (both ``[B, C]``)."""
        log_p_s = F.log_softmax(y_s / self.T, dim=1)
        p_t = F.softmax(y_t / self.T, dim=1)
        return F.kl_div(log_p_s, p_t, reduction="sum") * self.T**2 / y_s.shape[0]


@register_method("kd", summary="Hinton KD: the KL terms on x and x' alone (the paper's recipe)", loss=DistillKL,
                 beta=0.0)
def build_kd(shapes: PairShapes) -> None:
    return None  # the KL terms are the composition's own; nothing is added to the step
