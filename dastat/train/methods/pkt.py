"""Probabilistic knowledge transfer (Passalis & Tefas 2018; RepDistiller ``PKT``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes

_EPS = 1e-7  # the reference's eps, both in the norms and inside the log


def _unit_rows(x: Tensor) -> Tensor:
    x = x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)
    return torch.where(torch.isnan(x), torch.zeros_like(x), x)


def _similarity_distribution(x: Tensor) -> Tensor:
    sim = (x @ x.t() + 1.0) / 2.0  # cosine similarity scaled to [0, 1]
    return sim / sim.sum(dim=1, keepdim=True)


class PKT(nn.Module):
    """KL divergence between the teacher's and student's cosine-similarity distributions over the batch."""

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        """``f_s``: ``[B, D_s]``, ``f_t``: ``[B, D_t]``; returns a scalar."""
        p_s = _similarity_distribution(_unit_rows(f_s))
        p_t = _similarity_distribution(_unit_rows(f_t))
        return (p_t * torch.log((p_t + _EPS) / (p_s + _EPS))).mean()


class _PKTTerm(MethodTerm):
    needs_stages = False
    def __init__(self):
        super().__init__()
        self.loss = PKT()

    def term(self, feat_s, feat_t, index, generator):
        return self.loss(feat_s[-1], feat_t[-1])


@register_method("pkt", summary="PKT: cosine-similarity distributions of the pooled features (Passalis & Tefas 2018)",
                 loss=PKT, beta=30000)
def build_pkt(shapes: PairShapes) -> MethodTerm:
    return _PKTTerm()
