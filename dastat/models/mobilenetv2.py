"""RepDistiller's ``MobileNetV2`` (its ``mobile_half``: expansion 6, width 0.5; ``models/mobilenetv2.py``)."""

from __future__ import annotations

from torch import Tensor, nn

from dastat.models.zoo import head_pool, register


def _conv_bn(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True)
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == oup
        hidden = inp * expand_ratio
        # The 1x1 expansion is present even for expand_ratio 1 (RepDistiller's layout).
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, T: int, num_classes: int, width_mult: float = 1.0, image_size: int = 32):
        super().__init__()
        setting = [  # expansion t, width c, repeats n, stride s
            [1, 16, 1, 1], [T, 24, 2, 1], [T, 32, 3, 2], [T, 64, 4, 2],
            [T, 96, 3, 1], [T, 160, 3, 2], [T, 320, 1, 1],
        ]
        input_channel = int(32 * width_mult)
        self.conv1 = _conv_bn(3, input_channel, 3, 2)
        self.blocks = nn.ModuleList([])
        for t, c, n, s in setting:
            output_channel = int(c * width_mult)
            layers = []
            for stride in [s] + [1] * (n - 1):
                layers.append(InvertedResidual(input_channel, output_channel, stride, t))
                input_channel = output_channel
            self.blocks.append(nn.Sequential(*layers))
        self.last_channel = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = _conv_bn(input_channel, self.last_channel, 1, 1)
        self.classifier = nn.Sequential(nn.Linear(self.last_channel, num_classes))
        # 32-px input leaves a 2x2 map; RepDistiller's pool is AvgPool2d(2, ceil_mode=True).
        self.avgpool = head_pool(image_size, nn.AvgPool2d(2, ceil_mode=True))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, (2.0 / n) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        out = self.conv1(x)
        f0 = out
        out = self.blocks[1](self.blocks[0](out))
        f1 = out
        out = self.blocks[2](out)
        f2 = out
        out = self.blocks[4](self.blocks[3](out))
        f3 = out
        out = self.blocks[6](self.blocks[5](out))
        f4 = out
        out = self.avgpool(self.conv2(out))
        out = out.view(out.size(0), -1)
        f5 = out
        out = self.classifier(out)
        if is_feat:
            return [f0, f1, f2, f3, f4, f5], out  # no pre-activation variant in RepDistiller
        return out


@register("MobileNetV2")
def mobile_half(num_classes: int = 100, image_size: int = 32) -> nn.Module:
    """RepDistiller's MobileNetV2 (``mobile_half``): expansion 6, width multiplier 0.5."""
    return MobileNetV2(6, num_classes, width_mult=0.5, image_size=image_size)
