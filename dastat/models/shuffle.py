"""Channel shuffle, shared by ShuffleNet v1 and v2."""

from __future__ import annotations

from torch import Tensor, nn


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """View ``(N, g, C/g, H, W)``, swap dims 1 and 2, reshape back to ``(N, C, H, W)``."""
    n, c, h, w = x.size()
    return x.view(n, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


class ShuffleBlock(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)
