"""RepDistiller's ``ResNet50`` (``models/resnetv2.py``): bottleneck ResNet with a CIFAR stem."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.models.zoo import register, run_stages


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, is_last: bool = False):
        super().__init__()
        self.is_last = is_last
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # The stride sits on the 3x3 conv (and on the shortcut), as in RepDistiller.
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.expansion * planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x: Tensor):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        preact = self.bn3(self.conv3(out)) + self.shortcut(x)
        out = F.relu(preact)
        return (out, preact) if self.is_last else out


class ResNetV2(nn.Module):
    """3x3 stride-1 stem, no max-pool, four bottleneck stages, global average pool."""

    def __init__(self, num_blocks: list[int], num_classes: int):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(512, num_blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # already global: the same at 32 and 64 px
        self.linear = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i, s in enumerate([stride] + [1] * (num_blocks - 1)):
            layers.append(Bottleneck(self.in_planes, planes, s, is_last=(i == num_blocks - 1)))
            self.in_planes = planes * Bottleneck.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        f0 = F.relu(self.bn1(self.conv1(x)))
        out, outs, preacts = run_stages(f0, (self.layer1, self.layer2, self.layer3, self.layer4))
        out = self.avgpool(out)
        pooled = out.view(out.size(0), -1)
        out = self.linear(pooled)
        if is_feat:
            if preact:
                # RepDistiller returns a 2-element list here (a tuple otherwise); kept for fidelity.
                return [[f0, *preacts, pooled], out]
            return [f0, *outs, pooled], out
        return out


@register("ResNet50")
def resnet50(num_classes: int = 100, image_size: int = 32) -> nn.Module:
    """RepDistiller's ResNet50: bottleneck blocks [3, 4, 6, 3] with a CIFAR stem."""
    return ResNetV2([3, 4, 6, 3], num_classes)
