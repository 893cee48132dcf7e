"""Mixup and CutMix: each image mixed with a partner from the same batch (docs/method.md, "Schemes")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment import kernels, sampling
from dastat.augment.scheme import RowLabels, Scheme, register
from dastat.checks import check_float


class MixupParams(NamedTuple):
    lam: Tensor  # [B] float64, weight of the image itself
    partner: Tensor  # [B] int64, the image it is mixed with (never itself)


class CutMixParams(NamedTuple):
    lam: Tensor  # [B] float64, the λ drawn from Beta(β, β)
    lam_corrected: Tensor  # [B] float64, 1 − pasted area / image area: the weight of the image's own label
    partner: Tensor  # [B] int64, the image the box comes from (never itself)
    top: Tensor  # [B] int64, box rows [top, bottom)
    bottom: Tensor
    left: Tensor  # [B] int64, box columns [left, right)
    right: Tensor


class _Mixing(Scheme):
    min_batch = 2
    row_params = True
    index_params = ("partner",)

    def __init__(self, alpha: float = 1.0, **common: Any):
        super().__init__(**common)
        self.alpha = check_float(alpha, "alpha", low=0, low_open=True)
        self.hparams["alpha"] = self.alpha

    def _lam(self, b: int, generator: torch.Generator, device) -> Tensor:
        lam = sampling.beta(self.alpha, self.alpha, self._draws(b), generator)
        return lam.to(device).expand(b)

    def row_labels(self, params: MixupParams | CutMixParams, labels: Tensor) -> RowLabels:
        """Row i: its own label weighted by λ, its partner's by 1 − λ (CutMix: λ of the pasted area)."""
        return RowLabels(labels, labels[params.partner], self._own_weight(params).double(), None)

    def _own_weight(self, params: Any) -> Tensor:
        raise NotImplementedError


@register("mixup")
class Mixup(_Mixing):
    """``round(λ·x + (1 − λ)·x[partner])``, λ ~ Beta(α, α) with α = 1, partner a derangement.

    The pairing is per image in both randomness modes (the reference's permutation is per
    sample); dastat never pairs an image with itself, where the reference's randperm may.
    """

    def sample(self, images: Tensor, generator: torch.Generator) -> MixupParams:
        b = images.shape[0]
        lam = self._lam(b, generator, images.device)
        return MixupParams(lam, sampling.derangement(b, generator).to(images.device))

    def apply(self, images: Tensor, params: MixupParams) -> Tensor:
        return kernels.blend(images, params.partner, params.lam)

    def _own_weight(self, params: MixupParams) -> Tensor:
        return params.lam


@register("cutmix")
class CutMix(_Mixing):
    """Paste a box of the partner image: ``rand_bbox`` of the CutMix paper's code (docs/method.md, "Schemes").

    λ ~ Beta(β, β) with β = ``alpha`` = 1; the box has sides ``int(H·√(1−λ))`` and
    ``int(W·√(1−λ))``, centre uniform over the image, edges ``centre ± side//2`` clipped to
    the image; λ is then corrected to the true pasted area (``lam_corrected``, returned with
    ``return_params=True``). Because of the clipping the pasted fraction is not U(0, 1)
    even though λ is.
    """

    def sample(self, images: Tensor, generator: torch.Generator) -> CutMixParams:
        b, _, h, w = images.shape
        n = self._draws(b)
        lam = sampling.beta(self.alpha, self.alpha, n, generator)
        cut = torch.sqrt(1 - lam)
        cut_h, cut_w = (h * cut).long(), (w * cut).long()  # int() truncation, as rand_bbox
        cy = torch.randint(h, (n,), generator=generator, device=generator.device)
        cx = torch.randint(w, (n,), generator=generator, device=generator.device)
        top, bottom = (cy - cut_h // 2).clamp(0, h), (cy + cut_h // 2).clamp(0, h)
        left, right = (cx - cut_w // 2).clamp(0, w), (cx + cut_w // 2).clamp(0, w)
        lam_corrected = 1 - ((bottom - top) * (right - left)).double() / (h * w)
        partner = sampling.derangement(b, generator)
        device = images.device
        return CutMixParams(
            *(t.to(device).expand(b) for t in (lam, lam_corrected)),
            partner.to(device),
            *(t.to(device).expand(b) for t in (top, bottom, left, right)),
        )

    def apply(self, images: Tensor, params: CutMixParams) -> Tensor:
        return kernels.paste_boxes(images, params.partner, params.top, params.bottom, params.left, params.right)

    def _own_weight(self, params: CutMixParams) -> Tensor:
        return params.lam_corrected
