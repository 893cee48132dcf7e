"""Similarity-preserving KD (Tung & Mori 2019; RepDistiller ``Similarity``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


class Similarity(nn.Module):
    """Squared difference of the row-normalised batch Gram matrices, one ``[1]`` tensor per pair."""

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        """``g_s``, ``g_t``: lists of ``[B, ...]`` features."""
        return [self.similarity_loss(f_s, f_t) for f_s, f_t in zip(g_s, g_t)]

    @staticmethod
    def similarity_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
        b = f_s.shape[0]
        gram_s = F.normalize(f_s.reshape(b, -1) @ f_s.reshape(b, -1).t())  # [B, B]
        gram_t = F.normalize(f_t.reshape(b, -1) @ f_t.reshape(b, -1).t())
        diff = gram_t - gram_s
        return (diff * diff).view(-1, 1).sum(0) / (b * b)  # [1], as the reference returns it


class _SimilarityTerm(MethodTerm):
    def __init__(self):
        super().__init__()
        self.loss = Similarity()

    def term(self, feat_s, feat_t, index, generator):
        return sum(self.loss([feat_s[-2]], [feat_t[-2]]))  # the last stage's map, as the reference


@register_method("similarity", summary="SP: batch similarity of the last stage's map (Tung & Mori 2019)",
                 loss=Similarity, beta=3000)
def build_similarity(shapes: PairShapes) -> MethodTerm:
    return _SimilarityTerm()
