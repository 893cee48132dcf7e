"""RepDistiller's ``ShuffleV2`` (net size 1: 116/232/464, 1024; ``models/ShuffleNetv2.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.models.shuffle import ShuffleBlock
from dastat.models.zoo import head_pool, register, run_stages


class BasicBlock(nn.Module):
    """Half the channels pass through; the other half go 1x1 -> depthwise 3x3 -> 1x1."""

    def __init__(self, in_channels: int, split_ratio: float = 0.5, is_last: bool = False):
        super().__init__()
        self.is_last = is_last
        self.split_ratio = split_ratio
        half = int(in_channels * split_ratio)
        self.conv1 = nn.Conv2d(half, half, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, kernel_size=3, stride=1, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)
        self.shuffle = ShuffleBlock(groups=2)

    def forward(self, x: Tensor):
        c = int(x.size(1) * self.split_ratio)
        x1, x2 = x[:, :c], x[:, c:]
        out = F.relu(self.bn1(self.conv1(x2)))
        out = self.bn2(self.conv2(out))
        preact = self.bn3(self.conv3(out))
        out = torch.cat([x1, F.relu(preact)], 1)
        preact = torch.cat([x1, preact], 1)  # RepDistiller's pre-activation feature is not shuffled
        out = self.shuffle(out)
        return (out, preact) if self.is_last else out


class DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        # left branch
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, stride=2, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        # right branch
        self.conv3 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, stride=2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, kernel_size=1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)
        self.shuffle = ShuffleBlock(groups=2)

    def forward(self, x: Tensor) -> Tensor:
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = F.relu(self.bn3(self.conv3(x)))
        right = F.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return self.shuffle(torch.cat([left, right], 1))


class ShuffleNetV2(nn.Module):
    def __init__(self, out_channels: tuple[int, ...], num_blocks: tuple[int, ...], num_classes: int,
                 image_size: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, kernel_size=1, bias=False)  # 1x1 stem, no max-pool
        self.bn1 = nn.BatchNorm2d(24)
        self.in_channels = 24
        self.layer1 = self._make_layer(out_channels[0], num_blocks[0])
        self.layer2 = self._make_layer(out_channels[1], num_blocks[1])
        self.layer3 = self._make_layer(out_channels[2], num_blocks[2])
        self.conv2 = nn.Conv2d(out_channels[2], out_channels[3], kernel_size=1, stride=1, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.pool = head_pool(image_size, nn.AvgPool2d(4))
        self.linear = nn.Linear(out_channels[3], num_classes)

    def _make_layer(self, out_channels: int, num_blocks: int) -> nn.Sequential:
        layers: list[nn.Module] = [DownBlock(self.in_channels, out_channels)]
        for i in range(num_blocks):
            layers.append(BasicBlock(out_channels, is_last=(i == num_blocks - 1)))
        self.in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        out, outs, preacts = run_stages(f0, (self.layer1, self.layer2, self.layer3))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.pool(out)
        pooled = out.view(out.size(0), -1)
        out = self.linear(pooled)
        if is_feat:
            return [f0, *(preacts if preact else outs), pooled], out
        return out


@register("ShuffleV2")
def shuffle_v2(num_classes: int = 100, image_size: int = 32) -> nn.Module:
    """RepDistiller's ShuffleV2 (net size 1): widths 116/232/464, 1024 features, blocks 3/7/3."""
    return ShuffleNetV2((116, 232, 464, 1024), (3, 7, 3), num_classes, image_size)
