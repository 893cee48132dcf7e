"""Cutout: one square hole per image, painted with the teacher's mean colour (docs/method.md, "Schemes")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment import kernels
from dastat.augment.scheme import Scheme, register
from dastat.checks import check_int


class CutoutParams(NamedTuple):
    cy: Tensor  # [B] int64, centre row of the hole, uniform over 0 .. H-1
    cx: Tensor  # [B] int64, centre column


@register("cutout")
class Cutout(Scheme):
    """A ``side`` x ``side`` hole (8 at 32 px, 16 at 64 px), centre uniform over the image, clipped.

    As DeVries & Taylor's Cutout of the reference code: rows ``[cy - side//2, cy + side//2)``
    clipped to the image, likewise for columns. The hole takes ``fill`` (the teacher's mean
    colour from :func:`~dastat.augment.fill_colour`, the reference's zero in normalised space); None paints black.
    """

    row_params = True

    def __init__(self, side: int | None = None, **common: Any):
        super().__init__(**common)
        self.side = self.image_size // 4 if side is None else check_int(side, "side", low=1)
        self.hparams.update(side=self.side, fill=self.fill)

    def sample(self, images: Tensor, generator: torch.Generator) -> CutoutParams:
        b, _, h, w = images.shape
        n = self._draws(b)
        cy = torch.randint(h, (n,), generator=generator, device=generator.device)
        cx = torch.randint(w, (n,), generator=generator, device=generator.device)
        return CutoutParams(cy.to(images.device).expand(b), cx.to(images.device).expand(b))

    def apply(self, images: Tensor, params: CutoutParams) -> Tensor:
        h, w = images.shape[-2:]
        half = self.side // 2
        top, bottom = (params.cy - half).clamp(0, h), (params.cy + half).clamp(0, h)
        left, right = (params.cx - half).clamp(0, w), (params.cx + half).clamp(0, w)
        return kernels.erase_boxes(images, top, bottom, left, right, self.fill)
