"""FitNet hints (Romero et al. 2015; RepDistiller ``HintLoss`` and its ``ConvReg`` connector)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_int
from dastat.errors import InvalidArgumentError
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


class HintLoss(nn.Module):
    """Mean squared error between the (regressed) student feature and the teacher's."""

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        return F.mse_loss(f_s, f_t)


class ConvReg(nn.Module):
    """Map a student feature map onto the teacher's shape: conv (or transposed conv) + BN (+ ReLU).

    Parameters
    ----------
    s_shape, t_shape : sequence of 4 ints
        ``[B, C, H, W]`` of the student's and the teacher's feature.
    use_relu : bool
        ReLU after the BatchNorm (FitNet's connector uses it; AB's does not).
    """

    def __init__(self, s_shape, t_shape, use_relu: bool = True):
        super().__init__()
        self.use_relu = use_relu
        _, s_c, s_h, s_w = s_shape
        _, t_c, t_h, t_w = t_shape
        if s_h == 2 * t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=3, stride=2, padding=1)
        elif s_h * 2 == t_h:
            self.conv = nn.ConvTranspose2d(s_c, t_c, kernel_size=4, stride=2, padding=1)
        elif s_h >= t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=(1 + s_h - t_h, 1 + s_w - t_w))
        else:
            raise InvalidArgumentError(
                f"cannot regress a student feature of side {s_h} onto a teacher feature of side {t_h} "
                "(the connector handles equal sides, half or double); pick another feature pair or student"
            )
        self.bn = nn.BatchNorm2d(t_c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return self.relu(x) if self.use_relu else x


class _HintTerm(MethodTerm):
    def __init__(self, s_shape, t_shape, hint_layer: int):
        super().__init__()
        self.hint_layer = hint_layer
        self.regress_s = ConvReg(s_shape, t_shape)
        self.loss = HintLoss()

    def term(self, feat_s, feat_t, index, generator):
        return self.loss(self.regress_s(feat_s[self.hint_layer]), feat_t[self.hint_layer])


@register_method("hint", summary="FitNet: regress one middle feature map onto the teacher's (Romero et al. 2015)",
                 loss=HintLoss, beta=100)
def build_hint(shapes: PairShapes, hint_layer: int = 2) -> MethodTerm:
    n = min(len(shapes.s_shapes), len(shapes.t_shapes))
    hint_layer = check_int(hint_layer, "hint_layer", low=0, high=n - 2)
    return _HintTerm(shapes.s_shapes[hint_layer], shapes.t_shapes[hint_layer], hint_layer)
