"""Identity, horizontal flip and zero-padded random crop: the standard DA and its parts (docs/method.md, "Schemes")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment import kernels
from dastat.augment.scheme import Scheme, get, register
from dastat.checks import check_float, check_int


def _default_pad(image_size: int) -> int:
    return image_size // 8  # docs/method.md, "Schemes": pad 4 at 32 px, 8 at 64 px


class FlipParams(NamedTuple):
    flipped: Tensor  # [B] bool


class CropParams(NamedTuple):
    top: Tensor  # [B] int64, row offset into the padded image, 0 .. 2·pad
    left: Tensor  # [B] int64, column offset, 0 .. 2·pad
    flipped: Tensor | None  # [B] bool, or None when the scheme does not flip


@register("identity")
class Identity(Scheme):
    """x' = x (a copy, so callers may write into it)."""

    is_identity = True

    def apply(self, images: Tensor, params: Any) -> Tensor:
        return images.clone()


def _draw_flips(scheme: Scheme, b: int, p: float, generator: torch.Generator, device) -> Tensor:
    n = scheme._draws(b)
    draws = torch.rand(n, generator=generator, device=generator.device) < p
    return draws.to(device).expand(b)


def _draw_offsets(scheme: Scheme, b: int, pad: int, generator: torch.Generator, device) -> tuple[Tensor, Tensor]:
    n = scheme._draws(b)
    offsets = torch.randint(2 * pad + 1, (2, n), generator=generator, device=generator.device).to(device)
    return offsets[0].expand(b), offsets[1].expand(b)


@register("flip")
class Flip(Scheme):
    """Horizontal flip with probability ``p`` (0.5), drawn per image."""

    row_params = True

    def __init__(self, p: float = 0.5, **common: Any):
        super().__init__(**common)
        self.p = check_float(p, "p", low=0, high=1)
        self.hparams["p"] = self.p

    def sample(self, images: Tensor, generator: torch.Generator) -> FlipParams:
        return FlipParams(_draw_flips(self, images.shape[0], self.p, generator, images.device))

    def apply(self, images: Tensor, params: FlipParams) -> Tensor:
        return kernels.flip(images, params.flipped)


@register("crop")
class Crop(Scheme):
    """Random crop of the image padded with zeros by ``pad`` (4 at 32 px, 8 at 64 px) on each side.

    The padding is black, as torchvision's RandomCrop(padding=pad) of the reference code, so
    the scheme takes no ``fill`` (``get`` builds it without one; a fill passed here is refused).
    """

    row_params = True
    takes_fill = False

    flips: bool = False

    def __init__(self, pad: int | None = None, **common: Any):
        super().__init__(**common)
        self.pad = _default_pad(self.image_size) if pad is None else check_int(pad, "pad", low=0)
        self.hparams["pad"] = self.pad

    def sample(self, images: Tensor, generator: torch.Generator) -> CropParams:
        b = images.shape[0]
        top, left = _draw_offsets(self, b, self.pad, generator, images.device)
        flipped = _draw_flips(self, b, 0.5, generator, images.device) if self.flips else None
        return CropParams(top, left, flipped)

    def apply(self, images: Tensor, params: CropParams) -> Tensor:
        return kernels.crop_flip(images, params.top, params.left, params.flipped, self.pad)


@register("flip_crop")
class FlipCrop(Crop):
    """Random crop with zero padding, then horizontal flip with p = 0.5: the standard DA (docs/method.md, "Schemes")."""

    flips = True


def standard(image_size: int, randomness: str = "sample") -> Scheme:
    """The standard DA that makes x in the probe and the trainer (docs/method.md, "Schemes").

    Random crop with zero padding (pad 4 at 32 px, 8 at 64 px) and horizontal flip
    (p = 0.5), drawn per image; ``randomness="batch"`` draws once per batch.

    Parameters
    ----------
    image_size : int
        Side of the images (sets the padding, ``image_size // 8``).
    randomness : {"sample", "batch"}

    Returns
    -------
    Scheme
        The ``flip_crop`` scheme.
    """
    return get("flip_crop", image_size=image_size, randomness=randomness)
