"""RepDistiller's CIFAR ResNets (resnet8 ... resnet110, resnet8x4, resnet32x4).

Post-activation basic blocks; parameter names, order and forward are RepDistiller's
(``models/resnet.py``), so its checkpoints load strictly.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.models.zoo import head_pool, register, run_stages


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, is_last=False):
        super().__init__()
        self.is_last = is_last
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        preact = out + residual
        out = F.relu(preact)
        # The last block of a stage also hands back its pre-activation (RepDistiller's preact features).
        return (out, preact) if self.is_last else out


class CifarResNet(nn.Module):
    """``depth = 6n + 2`` layers in three stages of widths ``num_filters[1:]``."""

    def __init__(self, depth: int, num_filters: list[int], num_classes: int, image_size: int = 32):
        super().__init__()
        n = (depth - 2) // 6
        self.inplanes = num_filters[0]
        self.conv1 = nn.Conv2d(3, num_filters[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_filters[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(num_filters[1], n)
        self.layer2 = self._make_layer(num_filters[2], n, stride=2)
        self.layer3 = self._make_layer(num_filters[3], n, stride=2)
        self.avgpool = head_pool(image_size, nn.AvgPool2d(8))
        self.fc = nn.Linear(num_filters[3] * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * BasicBlock.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, is_last=(blocks == 1))]
        self.inplanes = planes * BasicBlock.expansion
        for i in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes, is_last=(i == blocks - 1)))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        f0 = self.relu(self.bn1(self.conv1(x)))
        x, outs, preacts = run_stages(f0, (self.layer1, self.layer2, self.layer3))
        x = self.avgpool(x)
        pooled = x.view(x.size(0), -1)
        x = self.fc(pooled)
        if is_feat:
            return [f0, *(preacts if preact else outs), pooled], x
        return x


def _register(name: str, depth: int, num_filters: list[int]) -> None:
    @register(name)
    def build(num_classes: int = 100, image_size: int = 32) -> nn.Module:
        return CifarResNet(depth, num_filters, num_classes, image_size)

    build.__doc__ = f"RepDistiller's {name}: CIFAR ResNet-{depth}, widths {num_filters}."


for _depth in (8, 14, 20, 32, 44, 56, 110):
    _register(f"resnet{_depth}", _depth, [16, 16, 32, 64])
_register("resnet8x4", 8, [32, 64, 128, 256])
_register("resnet32x4", 32, [32, 64, 128, 256])
