"""Any torchvision v2 / kornia transform as a dastat scheme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from dastat.augment.scheme import Scheme
from dastat.checks import check_choice
from dastat.errors import InvalidArgumentError


class TransformScheme(Scheme):
    """A scheme around a callable transform; see :func:`from_transform`."""

    def __init__(self, transform: Callable, *, per_sample: bool, input_range: str, name: str, **common: Any):
        super().__init__(**common)
        if not callable(transform):
            raise InvalidArgumentError(
                f"transform must be callable (a torchvision v2 or kornia transform); got {transform!r}"
            )
        self.transform = transform
        self.per_sample = bool(per_sample)
        self.input_range = check_choice(input_range, "input_range", ("uint8", "unit"))
        self.name = name
        self.hparams.update(transform=repr(transform), per_sample=self.per_sample, input_range=self.input_range)

    def _run(self, images: Tensor) -> Tensor:
        if self.input_range == "unit":
            images = images.float() / 255
        # torchvision v2 draws one set of parameters per call: per_sample calls it once per image
        out = torch.stack([self.transform(image) for image in images]) if self.per_sample else self.transform(images)
        if not isinstance(out, Tensor) or out.shape != images.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise InvalidArgumentError(
                f"transform {self.transform!r} must return a batch shaped like its input "
                f"{tuple(images.shape)}; got {got}"
            )
        if out.is_floating_point():
            return out.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        return out.to(torch.uint8)

    def _augment(self, images: Tensor, generator: torch.Generator, scorer: Any) -> tuple[Tensor, int]:
        # Wrapped transforms draw from torch's global generator. Seed it from ours inside
        # fork_rng, which restores the global state afterwards: the caller's generator
        # still decides every draw, and nobody else's stream moves.
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._run(images), seed


def from_transform(
    transform: Callable,
    *,
    per_sample: bool = True,
    input_range: str = "uint8",
    name: str = "transform",
    **common: Any,
) -> Scheme:
    """Wrap a torchvision v2 or kornia transform as a scheme.

    Parameters
    ----------
    transform : callable
        Takes a tensor and returns one of the same shape.
    per_sample : bool
        True: call ``transform`` once per image (a Python loop; right for torchvision v2,
        which draws one set of parameters per call). False: call it once on the whole batch
        (right for kornia's augmentations, which draw per image themselves).
    input_range : {"uint8", "unit"}
        What the transform reads: the uint8 batch as is, or float in [0, 1] (kornia); float
        outputs are scaled back and rounded to uint8.
    name : str
        The name the scheme reports.
    **common
        ``image_size``, ``randomness``, ``fill`` (recorded; the transform has its own).

    Returns
    -------
    Scheme
        Reproducible from the call's generator: the global torch generator is seeded from it
        inside ``torch.random.fork_rng``, so outside state is untouched.

    Example
    -------
    >>> from torchvision.transforms import v2
    >>> jitter = from_transform(v2.ColorJitter(0.4, 0.4, 0.4))
    >>> register("jitter")(lambda **kw: from_transform(v2.ColorJitter(0.4), name="jitter", **kw))
    """
    return TransformScheme(transform, per_sample=per_sample, input_range=input_range, name=name, **common)
