"""Bring two feature maps to one spatial size, as the reference's feature losses do before comparing."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def match_spatial(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """Average-pool the larger of two ``[B, C, H, W]`` maps to the other's (square) side.

    RepDistiller's AT, NST, FT and VID compare maps of different resolutions this way, keying on the
    height only and pooling to ``(H, H)``.
    """
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
        f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
        f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    return f_s, f_t
