"""Correlation congruence (Peng et al. 2019; RepDistiller ``Correlation``)."""

from __future__ import annotations

from torch import Tensor, nn

from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


class Correlation(nn.Module):
    """The reference's CC: mean over consecutive sample pairs of ``sum_d |Δ_i| |Δ_{i+1}|``, Δ = f_s - f_t."""

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        """``f_s``, ``f_t``: ``[B, D]`` embeddings; returns a scalar."""
        delta = (f_s - f_t).abs()
        return (delta[:-1] * delta[1:]).sum(1).mean()


class LinearEmbed(nn.Module):
    """Flatten, then one linear layer (the reference's CC embedding; state dict ``linear.*``)."""

    def __init__(self, dim_in: int = 1024, dim_out: int = 128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.view(x.shape[0], -1))


class _CorrelationTerm(MethodTerm):
    needs_stages = False
    def __init__(self, s_dim: int, t_dim: int, feat_dim: int):
        super().__init__()
        self.embed_s = LinearEmbed(s_dim, feat_dim)
        self.embed_t = LinearEmbed(t_dim, feat_dim)
        self.loss = Correlation()

    def term(self, feat_s, feat_t, index, generator):
        return self.loss(self.embed_s(feat_s[-1]), self.embed_t(feat_t[-1]))


@register_method("correlation", summary="CC: correlation congruence of embedded pooled features (Peng et al. 2019)",
                 loss=Correlation, beta=0.02)
def build_correlation(shapes: PairShapes, feat_dim: int = 128) -> MethodTerm:
    return _CorrelationTerm(shapes.s_shapes[-1][1], shapes.t_shapes[-1][1], feat_dim)
