"""Flow of solution procedure (Yim et al. 2017; RepDistiller ``FSP``)."""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.errors import InvalidArgumentError
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes, feature_parameters


def fsp_matrices(g: list[Tensor]) -> list[Tensor]:
    """The ``[B, C_i, C_{i+1}]`` Gram matrices between consecutive maps (larger one pooled first)."""
    out = []
    for bot, top in itertools.pairwise(g):
        b_h, t_h = bot.shape[2], top.shape[2]
        if b_h > t_h:
            bot = F.adaptive_avg_pool2d(bot, (t_h, t_h))
        elif b_h < t_h:
            top = F.adaptive_avg_pool2d(top, (b_h, b_h))
        bot = bot.flatten(2).unsqueeze(1)  # [B, 1, C_i, HW]
        top = top.flatten(2).unsqueeze(2)  # [B, C_{i+1}, 1, HW]
        out.append((bot * top).mean(-1))
    return out


class FSP(nn.Module):
    """Squared difference of student and teacher FSP matrices, one value per consecutive pair.

    Parameters
    ----------
    s_shapes, t_shapes : sequences of ``[B, C, H, W]`` shapes
        The feature maps' shapes; the channel counts must agree pairwise.
    """

    def __init__(self, s_shapes, t_shapes):
        super().__init__()
        if len(s_shapes) != len(t_shapes):
            raise InvalidArgumentError(
                f"FSP needs as many student as teacher features; got {len(s_shapes)} and {len(t_shapes)}"
            )
        s_c, t_c = [int(s[1]) for s in s_shapes], [int(t[1]) for t in t_shapes]
        if s_c != t_c:
            raise InvalidArgumentError(
                f"FSP needs equal channel counts in student and teacher features; got {s_c} and {t_c}. "
                "Pick a student of the teacher's width (resnet8x4 for resnet32x4, resnet8 for resnet56)."
            )

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        return [(s - t).pow(2).mean() for s, t in zip(fsp_matrices(g_s), fsp_matrices(g_t))]


class _FSPTerm(MethodTerm):
    """FSP acts through its pre-training stage only (the student's feature layers learn the teacher's
    FSP matrices), then training is plain CE + KD, as the reference."""

    has_term = False
    has_init_stage = True

    def __init__(self, s_shapes, t_shapes):
        super().__init__()
        self.loss = FSP(s_shapes, t_shapes)

    def init_parameters(self, student):
        return feature_parameters(student)

    def init_loss(self, feat_s, feat_t):
        return sum(self.loss(feat_s[:-1], feat_t[:-1]))


@register_method("fsp", loss=FSP, beta=50,
                 summary="FSP: pre-train on the teacher's flow matrices between stages, then KD (Yim et al. 2017)")
def build_fsp(shapes: PairShapes) -> MethodTerm:
    return _FSPTerm(shapes.s_shapes[:-1], shapes.t_shapes[:-1])
