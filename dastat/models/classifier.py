"""A network together with its input normalisation: what the rest of dastat calls a model.

Images stay uint8 until this boundary (DESIGN.md); the wrapper scales and normalises them on
the device they are on, so every augmentation works on raw pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dastat.errors import InvalidArgumentError


def _check_stats(values: Sequence[float], name: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or (name == "std" and min(out) <= 0):
        rule = "three positive numbers" if name == "std" else "three numbers"
        raise InvalidArgumentError(
            f"{name} must be {rule} (one per RGB channel, on the 0..1 scale); got {values!r}"
        )
    return out  # type: ignore[return-value]


class Normalize(nn.Module):
    """uint8 ``[B,3,H,W]`` (or float in [0,1]) -> ``(x - mean) / std`` in the buffers' dtype."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.mean = _check_stats(mean, "mean")
        self.std = _check_stats(std, "std")
        # Not persistent: the checkpoint of a Classifier is its network's state_dict, plus metadata.
        self.register_buffer("mean_", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std_", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:  # a fresh float copy: normalised in place, no further buffers
            return x.to(self.mean_.dtype).div_(255.0).sub_(self.mean_).div_(self.std_)
        if x.is_floating_point():
            x = x.to(self.mean_.dtype)
        else:
            raise InvalidArgumentError(
                f"images must be uint8 [B,3,H,W] or float in [0,1]; got dtype {x.dtype}"
            )
        return (x - self.mean_) / self.std_


def _last_linear(net: nn.Module) -> nn.Linear | None:
    last = None
    for module in net.modules():
        if isinstance(module, nn.Linear):
            last = module
    return last


def _logits_of(out):
    """RepDistiller nets return a tensor; mdistiller nets return ``(logits, features)``."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, Tensor) and item.ndim == 2:
                return item
    raise InvalidArgumentError(
        f"the wrapped network returned {type(out).__name__}, in which no [B, C] logits tensor was found; "
        "wrap a network whose forward returns logits (or a (logits, features) pair)"
    )


class Classifier(nn.Module):
    """A classifier called on raw images: normalisation in front of a network.

    Calling it on uint8 ``[B,3,H,W]`` (or float in [0,1]) returns logits ``[B, C]``.
    Keyword arguments (``is_feat=True``, ``preact=True``) go to the network, whose own output is
    then returned unchanged.

    Attributes
    ----------
    net : nn.Module
        The bare network (its state_dict is the checkpoint's).
    arch : str
        Registry name of the architecture (or the network's class name).
    num_classes : int
    image_size : int or None
        Input side the network was built for.
    mean, std : tuple of 3 floats
        The teacher's input normalisation on the 0..1 scale.
    checksum : str or None
        sha256 of the checkpoint file it was loaded from.
    source : dict
        Where it came from (path, layout, how arch and mean/std were decided).
    """

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        arch: str | None = None,
        num_classes: int | None = None,
        image_size: int | None = None,
        checksum: str | None = None,
        source: dict | None = None,
    ):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise InvalidArgumentError(f"net must be a torch.nn.Module; got {type(net).__name__}")
        self.normalize = Normalize(mean, std)
        self.net = net
        self.arch = arch or getattr(net, "arch", None) or type(net).__name__
        if num_classes is None:
            num_classes = getattr(net, "num_classes", None)
        if num_classes is None:
            head = _last_linear(net)
            num_classes = head.out_features if head is not None else None
        self.num_classes = num_classes
        self.image_size = image_size if image_size is not None else getattr(net, "image_size", None)
        self.checksum = checksum
        self.source = dict(source or {})

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.normalize.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.normalize.std

    def forward(self, x: Tensor, **kwargs):
        out = self.net(self.normalize(x), **kwargs)
        return out if kwargs else _logits_of(out)

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, num_classes={self.num_classes}, mean={self.mean}, std={self.std}"


def wrap(
    net: nn.Module,
    mean: Sequence[float],
    std: Sequence[float],
    arch: str | None = None,
    **attrs,
) -> Classifier:
    """Put input normalisation in front of a network.

    Parameters
    ----------
    net : nn.Module
        A network returning logits (or ``(logits, features)``).
    mean, std : three floats each
        Per-channel normalisation on the 0..1 scale (the data the network was trained on).
    arch : str, optional
        Registry name; defaults to ``net.arch`` (set by :func:`dastat.models.create`) or the class name.
    **attrs
        ``num_classes``, ``image_size``, ``checksum``, ``source`` (see :class:`Classifier`).

    Returns
    -------
    Classifier
    """
    if isinstance(net, Classifier):
        raise InvalidArgumentError("net is already a Classifier; wrap its .net to change the normalisation")
    return Classifier(net, mean, std, arch=arch, **attrs)
