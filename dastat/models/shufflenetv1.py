"""RepDistiller's ``ShuffleV1`` (groups 3, widths 240/480/960; ``models/ShuffleNetv1.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.models.shuffle import ShuffleBlock
from dastat.models.zoo import head_pool, register, run_stages


class Bottleneck(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int, groups: int, is_last: bool = False):
        super().__init__()
        self.is_last = is_last
        self.stride = stride
        mid_planes = int(out_planes / 4)
        g = 1 if in_planes == 24 else groups  # the stem's 24 channels do not split into groups
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=1, groups=g, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.shuffle1 = ShuffleBlock(groups=g)
        self.conv2 = nn.Conv2d(mid_planes, mid_planes, kernel_size=3, stride=stride, padding=1,
                               groups=mid_planes, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_planes)
        self.conv3 = nn.Conv2d(mid_planes, out_planes, kernel_size=1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1))

    def forward(self, x: Tensor):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.shuffle1(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.shortcut(x)
        preact = torch.cat([out, res], 1) if self.stride == 2 else out + res
        out = F.relu(preact)
        return (out, preact) if self.is_last else out


class ShuffleNetV1(nn.Module):
    def __init__(self, out_planes: list[int], num_blocks: list[int], groups: int, num_classes: int,
                 image_size: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.in_planes = 24
        self.layer1 = self._make_layer(out_planes[0], num_blocks[0], groups)
        self.layer2 = self._make_layer(out_planes[1], num_blocks[1], groups)
        self.layer3 = self._make_layer(out_planes[2], num_blocks[2], groups)
        self.pool = head_pool(image_size, nn.AvgPool2d(4))
        self.linear = nn.Linear(out_planes[2], num_classes)

    def _make_layer(self, out_planes: int, num_blocks: int, groups: int) -> nn.Sequential:
        layers = []
        for i in range(num_blocks):
            # The first block concatenates its input, so its own branch makes out - in channels.
            cat_planes = self.in_planes if i == 0 else 0
            layers.append(Bottleneck(self.in_planes, out_planes - cat_planes, stride=2 if i == 0 else 1,
                                     groups=groups, is_last=(i == num_blocks - 1)))
            self.in_planes = out_planes
        return nn.Sequential(*layers)

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        out, outs, preacts = run_stages(f0, (self.layer1, self.layer2, self.layer3))
        out = self.pool(out)
        pooled = out.view(out.size(0), -1)
        out = self.linear(pooled)
        if is_feat:
            return [f0, *(preacts if preact else outs), pooled], out
        return out


@register("ShuffleV1")
def shuffle_v1(num_classes: int = 100, image_size: int = 32) -> nn.Module:
    """RepDistiller's ShuffleV1: groups 3, stage widths 240/480/960, blocks 4/8/4."""
    return ShuffleNetV1([240, 480, 960], [4, 8, 4], 3, num_classes, image_size)
