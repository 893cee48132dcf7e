"""Relational KD (Park et al. 2019; RepDistiller ``RKDLoss``): distance and angle terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_float
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


def pairwise_distances(e: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distances between the rows of ``e`` ([B, D] -> [B, B]), zero on the diagonal."""
    sq = e.pow(2).sum(dim=1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * (e @ e.t())).clamp(min=eps).sqrt()
    return d * (1 - torch.eye(len(e), dtype=d.dtype, device=d.device))


def _angles(e: Tensor) -> Tensor:
    diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)  # [B, B, D]
    return torch.bmm(diff, diff.transpose(1, 2)).view(-1)


def _normalised_distances(e: Tensor) -> Tensor:
    d = pairwise_distances(e)
    positive = d > 0
    return d / (d * positive).sum() * positive.sum()  # divide by the mean of the positive distances


class RKDLoss(nn.Module):
    """``w_d * smoothL1(distances) + w_a * smoothL1(angles)``, teacher side without gradient.

    Parameters
    ----------
    w_d, w_a : float
        Weights of the distance and angle terms.
    """

    def __init__(self, w_d: float = 25, w_a: float = 50):
        super().__init__()
        self.w_d = check_float(w_d, "w_d", low=0)
        self.w_a = check_float(w_a, "w_a", low=0)

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        """``f_s``, ``f_t``: ``[B, ...]`` features (flattened); returns a scalar."""
        student = f_s.reshape(f_s.shape[0], -1)
        teacher = f_t.reshape(f_t.shape[0], -1)
        with torch.no_grad():
            t_d, t_angle = _normalised_distances(teacher), _angles(teacher)
        loss_d = F.smooth_l1_loss(_normalised_distances(student), t_d)
        loss_a = F.smooth_l1_loss(_angles(student), t_angle)
        return self.w_d * loss_d + self.w_a * loss_a


class _RKDTerm(MethodTerm):
    needs_stages = False
    def __init__(self, w_d: float, w_a: float):
        super().__init__()
        self.loss = RKDLoss(w_d, w_a)

    def term(self, feat_s, feat_t, index, generator):
        return self.loss(feat_s[-1], feat_t[-1])


@register_method("rkd", summary="RKD: distances and angles between pooled features (Park et al. 2019)",
                 loss=RKDLoss, beta=1)
def build_rkd(shapes: PairShapes, w_d: float = 25, w_a: float = 50) -> MethodTerm:
    return _RKDTerm(w_d, w_a)
