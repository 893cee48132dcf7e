"""Attention transfer (Zagoruyko & Komodakis 2017; RepDistiller ``Attention``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_float
from dastat.train.methods.pooling import match_spatial
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


def attention_map(f: Tensor, p: float) -> Tensor:
    """The L2-normalised spatial map ``mean_c |f|^p`` of ``[B, C, H, W]`` features, ``[B, H*W]``."""
    return F.normalize(f.pow(p).mean(1).view(f.size(0), -1))


class Attention(nn.Module):
    """Mean squared difference of student and teacher attention maps, one value per feature pair.

    Parameters
    ----------
    p : float
        Power applied to the activations before averaging over channels.
    """

    def __init__(self, p: float = 2):
        super().__init__()
        self.p = check_float(p, "p", low=0, low_open=True)

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        """``g_s``, ``g_t``: lists of ``[B, C, H, W]`` maps; returns a list of scalars."""
        return [self.at_loss(f_s, f_t) for f_s, f_t in zip(g_s, g_t)]

    def at_loss(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        f_s, f_t = match_spatial(f_s, f_t)
        return (attention_map(f_s, self.p) - attention_map(f_t, self.p)).pow(2).mean()


class _AttentionTerm(MethodTerm):
    def __init__(self, p: float):
        super().__init__()
        self.loss = Attention(p)

    def term(self, feat_s, feat_t, index, generator):
        return sum(self.loss(feat_s[1:-1], feat_t[1:-1]))  # the stage outputs, as the reference


@register_method("attention", summary="AT: attention maps of every stage (Zagoruyko & Komodakis 2017)",
                 loss=Attention, beta=1000)
def build_attention(shapes: PairShapes, p: float = 2) -> MethodTerm:
    return _AttentionTerm(p)
