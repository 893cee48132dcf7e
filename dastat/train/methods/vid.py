"""Variational information distillation (Ahn et al. 2019; RepDistiller ``VIDLoss``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_float, check_int
from dastat.train.methods.pooling import match_spatial
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


def _conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False)


class VIDLoss(nn.Module):
    """Gaussian negative log-likelihood of the teacher feature under a regressor of the student's.

    Parameters
    ----------
    num_input_channels, num_mid_channel, num_target_channels : int
        Channels of the student feature, of the regressor's hidden layers, of the teacher feature.
    init_pred_var : float
        Initial predicted variance (per target channel; softplus-parametrised in ``log_scale``).
    eps : float
        Floor added to the variance.
    """

    def __init__(self, num_input_channels: int, num_mid_channel: int, num_target_channels: int,
                 init_pred_var: float = 5.0, eps: float = 1e-5):
        super().__init__()
        c_in = check_int(num_input_channels, "num_input_channels", low=1)
        c_mid = check_int(num_mid_channel, "num_mid_channel", low=1)
        c_out = check_int(num_target_channels, "num_target_channels", low=1)
        init_pred_var = check_float(init_pred_var, "init_pred_var", low=0, low_open=True)
        self.regressor = nn.Sequential(_conv1x1(c_in, c_mid), nn.ReLU(), _conv1x1(c_mid, c_mid), nn.ReLU(),
                                       _conv1x1(c_mid, c_out))
        # Inverse softplus of the initial variance, so that softplus(log_scale) + eps starts there.
        self.log_scale = nn.Parameter(math.log(math.exp(init_pred_var - eps) - 1.0) * torch.ones(c_out))
        self.eps = check_float(eps, "eps", low=0)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``input``: student map ``[B, C_in, H, W]``; ``target``: teacher map; returns a scalar."""
        input, target = match_spatial(input, target)
        pred_mean = self.regressor(input)
        pred_var = (F.softplus(self.log_scale) + self.eps).view(1, -1, 1, 1)
        return (0.5 * ((pred_mean - target) ** 2 / pred_var + torch.log(pred_var))).mean()


class _VIDTerm(MethodTerm):
    def __init__(self, s_channels: list[int], t_channels: list[int]):
        super().__init__()
        self.losses = nn.ModuleList(VIDLoss(s, t, t) for s, t in zip(s_channels, t_channels))

    def term(self, feat_s, feat_t, index, generator):
        return sum(loss(f_s, f_t) for loss, f_s, f_t in zip(self.losses, feat_s[1:-1], feat_t[1:-1]))


@register_method("vid", summary="VID: variational mutual information with every stage's map (Ahn et al. 2019)",
                 loss=VIDLoss, beta=1)
def build_vid(shapes: PairShapes) -> MethodTerm:
    return _VIDTerm([s[1] for s in shapes.s_shapes[1:-1]], [t[1] for t in shapes.t_shapes[1:-1]])
