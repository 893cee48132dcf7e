"""Activation-boundary distillation (Heo et al. 2019; RepDistiller ``ABLoss`` and ``Connector``)."""

from __future__ import annotations

from torch import Tensor, nn

from dastat.checks import check_float, check_int
from dastat.train.methods.hint import ConvReg
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes, feature_parameters


class ABLoss(nn.Module):
    """Hinge-squared loss on the sign pattern of the teacher's pre-activations, one value per pair.

    Pair i of ``feat_num`` is weighted ``2^(i - feat_num + 1)`` (the deepest pair by 1), and each value
    is divided by the batch size and scaled by 3/1000, as the reference does.

    Parameters
    ----------
    feat_num : int
        Number of feature pairs.
    margin : float
        The hinge margin.
    """

    def __init__(self, feat_num: int, margin: float = 1.0):
        super().__init__()
        feat_num = check_int(feat_num, "feat_num", low=1)
        self.w = [2 ** (i - feat_num + 1) for i in range(feat_num)]
        self.margin = check_float(margin, "margin", low=0)

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        """``g_s``: connected student pre-activations; ``g_t``: teacher pre-activations."""
        b = g_s[0].shape[0]
        return [w * self.criterion_alternative_l2(s, t) / b / 1000 * 3 for w, s, t in zip(self.w, g_s, g_t)]

    def criterion_alternative_l2(self, source: Tensor, target: Tensor) -> Tensor:
        m = self.margin
        loss = ((source + m) ** 2 * ((source > -m) & (target <= 0)).to(source.dtype)
                + (source - m) ** 2 * ((source <= m) & (target > 0)).to(source.dtype))
        return loss.abs().sum()


class Connector(nn.Module):
    """Per pair, a conv + BN mapping the student map onto the teacher's shape (identity when equal).

    State dict ``connectors.<i>.conv.*`` / ``connectors.<i>.bn.*``, as the reference.
    """

    def __init__(self, s_shapes, t_shapes):
        super().__init__()
        self.connectors = nn.ModuleList(
            nn.Sequential() if s[1] == t[1] and s[2] == t[2] else ConvReg(s, t, use_relu=False)
            for s, t in zip(s_shapes, t_shapes)
        )

    def forward(self, g_s: list[Tensor]) -> list[Tensor]:
        return [connect(f) for connect, f in zip(self.connectors, g_s)]


class _ABTerm(MethodTerm):
    """AB acts through its pre-training stage only: the connector and the student's feature layers learn
    the teacher's activation boundaries, then training is plain CE + KD (the reference's ``loss_kd = 0``)."""

    preact = True
    has_term = False
    has_init_stage = True

    def __init__(self, s_shapes, t_shapes, margin: float):
        super().__init__()
        self.connector = Connector(s_shapes, t_shapes)
        self.loss = ABLoss(len(s_shapes), margin)

    def init_parameters(self, student):
        return [*self.connector.parameters(), *feature_parameters(student)]

    def init_loss(self, feat_s, feat_t):
        return sum(self.loss(self.connector(feat_s[1:-1]), feat_t[1:-1]))


@register_method("abound", summary="AB: pre-train on the teacher's activation boundaries, then KD (Heo et al. 2019)",
                 loss=ABLoss, beta=1)
def build_abound(shapes: PairShapes, margin: float = 1.0) -> MethodTerm:
    return _ABTerm(shapes.s_shapes[1:-1], shapes.t_shapes[1:-1], margin)
