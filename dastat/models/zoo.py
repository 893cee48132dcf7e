"""The model registry and its factory: ``create(name, num_classes, image_size)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from dastat.checks import check_int
from dastat.registry import Registry

#: name -> builder ``f(num_classes: int, image_size: int) -> nn.Module``
MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def register(name: str) -> Callable:
    """Decorator filing a model builder ``f(num_classes, image_size) -> nn.Module`` as ``create(name)``.

    The one spelling of registration across dastat: ``dastat.models.register``,
    ``dastat.augment.register``, ``dastat.data.register``.
    """
    return MODELS.register(name)

#: The input size RepDistiller's CIFAR zoo was written for; at this size dastat's zoo is RepDistiller's.
CIFAR_SIZE = 32


def create(name: str, num_classes: int = 100, image_size: int = CIFAR_SIZE) -> nn.Module:
    """Build a network of the zoo with fresh (untrained) weights.

    Parameters
    ----------
    name : str
        A registry name: RepDistiller's CIFAR names (``resnet8`` ... ``ShuffleV2``) or a
        torchvision ImageNet classifier (``tv_resnet18`` ...); see :func:`list_models`.
    num_classes : int
        Outputs of the classifier.
    image_size : int
        Side of the square input. At 32 px the CIFAR zoo is RepDistiller's exactly; at other
        sizes it pools globally before the classifier (docs/method.md, "Models and checkpoints").

    Returns
    -------
    nn.Module
        ``model(x)`` returns logits ``[B, num_classes]``; ``model(x, is_feat=True)`` returns
        ``(features, logits)``. The module carries ``arch``, ``num_classes`` and ``image_size``
        attributes (plain attributes: they are not in its state_dict).
    """
    builder = MODELS.get(name)
    num_classes = check_int(num_classes, "num_classes", low=1)
    image_size = check_int(image_size, "image_size", low=8)
    net = builder(num_classes=num_classes, image_size=image_size)
    net.arch, net.num_classes, net.image_size = name, num_classes, image_size
    return net


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching an fnmatch ``pattern``, in natural order (resnet8 < resnet14)."""
    return MODELS.names(pattern)


def head_pool(image_size: int, fixed: nn.Module) -> nn.Module:
    """The pooling in front of the classifier.

    RepDistiller uses a fixed-size average pool (``fixed``) that covers the whole final map only
    for 32-px input; at any other size the paper's models pool globally (docs/method.md, "Models and checkpoints").
    """
    return fixed if image_size == CIFAR_SIZE else nn.AdaptiveAvgPool2d(1)


def run_stages(x: Tensor, stages: Sequence[nn.Module]) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Run stages whose last block returns ``(out, preact)``; the output, and each stage's output and pre-activation.

    RepDistiller's ResNets and ShuffleNets return these as their features (``is_feat=True``).
    """
    outs, preacts = [], []
    for stage in stages:
        x, pre = stage(x)
        outs.append(x)
        preacts.append(pre)
    return x, outs, preacts
