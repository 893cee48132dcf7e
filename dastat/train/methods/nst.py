"""Neuron selectivity transfer (Huang & Wang 2017; RepDistiller ``NSTLoss``), polynomial kernel."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.train.methods.pooling import match_spatial
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


def _poly_kernel(a: Tensor, b: Tensor) -> Tensor:
    """``(a_i . b_j)^2`` over channel pairs: [B, C_a, N], [B, C_b, N] -> [B, C_b, C_a]."""
    return (a.unsqueeze(1) * b.unsqueeze(2)).sum(-1).pow(2)


class NSTLoss(nn.Module):
    """Squared MMD (degree-2 polynomial kernel) between the channels' spatial distributions, per pair."""

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        return [self.nst_loss(f_s, f_t) for f_s, f_t in zip(g_s, g_t)]

    @staticmethod
    def nst_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
        f_s, f_t = match_spatial(f_s, f_t)
        f_s = F.normalize(f_s.flatten(2), dim=2)  # [B, C_s, HW]
        f_t = F.normalize(f_t.flatten(2), dim=2)
        return (_poly_kernel(f_t, f_t).mean().detach() + _poly_kernel(f_s, f_s).mean()
                - 2 * _poly_kernel(f_s, f_t).mean())


class _NSTTerm(MethodTerm):
    def __init__(self):
        super().__init__()
        self.loss = NSTLoss()

    def term(self, feat_s, feat_t, index, generator):
        return sum(self.loss(feat_s[1:-1], feat_t[1:-1]))


@register_method("nst", summary="NST: MMD of neuron selectivity patterns of every stage (Huang & Wang 2017)",
                 loss=NSTLoss, beta=50)
def build_nst(shapes: PairShapes) -> MethodTerm:
    return _NSTTerm()
