"""The probe's inference copy of a teacher: folded BatchNorms, channels-last, the same logits to float32 rounding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dastat import models
from dastat.models import inference

# Float32 rounding: the folded weights and the reordered sums move a logit by a few units in the last place
# of the largest logit times the depth; 1e-5 of the largest logit is ~80 ulps, far above what any of these
# networks shows (2e-7 to 2e-6) and far below any change a wrong fold makes (the BN statistics below move
# every activation by O(1)).
REL = 1e-5


def _batchnorms(net: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def _trained_like(net: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, as after training (fresh ones are 0/1)."""
    gen = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return net.eval()


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = net(x)
    return out[0] if isinstance(out, tuple) else out


# resnet8/MobileNetV2: every BN follows its conv; wrn: pre-activation blocks, only the BNs after a conv fold;
# vgg8: shape-dependent forward fx cannot trace, its Sequential pairs fold; ShuffleV2: untraceable, no Sequential pairs
@pytest.mark.parametrize("arch, left", [("resnet8", 0), ("MobileNetV2", 0), ("wrn_16_2", 6), ("vgg8", 0),
                                        ("ShuffleV2", 56)])
def test_the_copy_gives_the_same_logits_with_the_batchnorms_folded(arch, left):
    net = _trained_like(models.create(arch, num_classes=10, image_size=32))
    before = _batchnorms(net)
    teacher = models.wrap(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), arch=arch).eval()
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    fast = inference.inference_copy(teacher, x)
    assert fast is not teacher
    assert _batchnorms(fast) == left
    assert _batchnorms(teacher) == before  # the original is untouched
    want = _logits(teacher, x)
    torch.testing.assert_close(_logits(fast, x), want, rtol=0, atol=REL * float(want.abs().max()))


class _ConvFeedsTwo(nn.Module):
    """A conv whose output a BN and the residual both read: folding the BN would change the residual."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        return self.fc((self.bn(y) + y).mean((2, 3)))


def test_a_conv_read_by_more_than_its_batchnorm_is_not_folded():
    net = _trained_like(_ConvFeedsTwo())
    folded = inference.fold_batchnorm(net)
    assert _batchnorms(folded) == 1
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(_logits(folded, x), _logits(net, x), rtol=0, atol=1e-6)


def test_a_copy_that_disagrees_on_the_sample_falls_back_to_the_model(monkeypatch):
    teacher = models.wrap(_trained_like(models.create("resnet8", num_classes=10, image_size=32)),
                          (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()

    def broken(net):
        net.fc.bias.data += 1.0
        return net

    monkeypatch.setattr(inference, "fold_batchnorm", broken)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert inference.inference_copy(teacher, x) is teacher
    assert inference.inference_copy(teacher, x) is teacher  # remembered for these weights
    other = models.wrap(_trained_like(models.create("resnet8", num_classes=10, image_size=32)),
                        (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    assert inference.inference_copy(other) is not other  # without a sample nothing is checked


def test_the_copy_is_reused_until_the_weights_change():
    teacher = models.wrap(_trained_like(models.create("resnet8", num_classes=10, image_size=32)),
                          (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    first = inference.inference_copy(teacher, x)
    assert inference.inference_copy(teacher, x) is first
    with torch.no_grad():
        teacher.net.fc.bias.add_(1.0)  # in place: the copy's logits would be stale
    second = inference.inference_copy(teacher, x)
    assert second is not first
    torch.testing.assert_close(_logits(second, x), _logits(teacher, x), rtol=0,
                               atol=REL * float(_logits(teacher, x).abs().max()))
    teacher.load_state_dict({k: v.clone() for k, v in teacher.state_dict().items()})
    assert inference.inference_copy(teacher, x) is not second


class _Counting(nn.Module):
    """A forward with state: tracing it would leave a proxy in ``calls``."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc, self.calls = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 3), 0

    def forward(self, x):
        self.calls += 1
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def test_tracing_leaves_the_networks_state_alone():
    net = _trained_like(_Counting())
    folded = inference.fold_batchnorm(net)
    assert net.calls == 0 and type(net.calls) is int
    assert _batchnorms(folded) == 0
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(_logits(folded, x), _logits(net, x), rtol=0, atol=1e-6)
