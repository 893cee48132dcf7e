"""torchvision's ImageNet classifiers (``weights=None``), for larger images, named ``tv_<name>``.

The networks keep torchvision's parameter names, so torchvision state_dicts load strictly. Their
forward gains RepDistiller's signature: ``is_feat=True`` returns ``([penultimate features], logits)``.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from torch import Tensor, nn

from dastat.models.zoo import register

TORCHVISION_NAMES = (
    "resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "resnext50_32x4d",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2_x1_0",
    "efficientnet_b0", "densenet121", "vgg11_bn", "vgg16_bn", "regnet_y_400mf",
)


def _tvm() -> ModuleType:
    """torchvision.models, imported on first use (about a second: most commands never build one)."""
    return importlib.import_module("torchvision.models")


def _last_linear(net: nn.Module) -> nn.Linear:
    return [m for m in net.modules() if isinstance(m, nn.Linear)][-1]


@functools.cache
def _with_feat(base: type) -> type:
    """A subclass of a torchvision class whose forward takes ``is_feat`` / ``preact``."""

    def forward(self, x: Tensor, is_feat: bool = False, preact: bool = False):
        if not is_feat:
            return base.forward(self, x)
        seen: list[Tensor] = []
        # The classifier's input is the penultimate feature, whatever the family's forward looks like.
        handle = _last_linear(self).register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            logits = base.forward(self, x)
        finally:
            handle.remove()
        return [seen[-1]], logits

    name = f"Tv{base.__name__}"
    cls = type(name, (base,), {"forward": forward, "__module__": __name__, "__qualname__": name})
    globals()[name] = cls  # findable by name, so whole models pickle (multiprocessing, torch.save)
    return cls


def _register(name: str) -> None:
    @register(f"tv_{name}")
    def build(num_classes: int = 1000, image_size: int = 224) -> nn.Module:
        net = getattr(_tvm(), name)(weights=None, num_classes=num_classes)
        net.__class__ = _with_feat(type(net))  # same parameters, RepDistiller's forward signature
        return net

    build.__doc__ = f"torchvision's {name} (untrained; load weights from a file)."


for _name in TORCHVISION_NAMES:
    _register(_name)


def __getattr__(name: str):
    # A fresh process unpickling a model finds its class here before any create() made it.
    if name.startswith("Tv") and isinstance(getattr(_tvm(), name[2:], None), type):
        return _with_feat(getattr(_tvm(), name[2:]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
