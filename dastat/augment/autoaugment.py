"""AutoAugment and RandAugment with torchvision's policies and op space, drawn per image (docs/method.md, "Schemes").

The policies and magnitude bins are torchvision's (``v2.AutoAugment``); the draws are
dastat's: per image, a sub-policy, whether each of its two ops fires, and each op's sign.
Images that drew the same op at the same magnitude go through torchvision's v2
functional kernel together, one call per group, so there is no loop over images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment.scheme import Scheme, register
from dastat.checks import check_choice, check_int

if TYPE_CHECKING:
    from torchvision.transforms import InterpolationMode

# Names of torchvision's ``v2.AutoAugmentPolicy`` members. torchvision is imported on first use: importing
# it costs about a second (it loads its models and torch._dynamo), which a probe of other schemes skips.
POLICIES = {"cifar10": "CIFAR10", "imagenet": "IMAGENET", "svhn": "SVHN"}
_NUM_BINS = 10  # torchvision's AutoAugment reads every magnitude from 10 bins


class AutoAugmentParams(NamedTuple):
    sub_policy: Tensor  # [B] int64, index into the policy's sub-policies
    applied: Tensor  # [B, 2] bool, whether each of the sub-policy's two ops fires
    negative: Tensor  # [B, 2] bool, sign flip of a signed op's magnitude


def apply_op(
    images: Tensor, op: str, magnitude: float, *, interpolation: InterpolationMode, fill: list[float] | None
) -> Tensor:
    """One AutoAugment op at one magnitude on a batch [n, 3, H, W] uint8, as torchvision's AutoAugment."""
    from torchvision.transforms.v2 import functional as F

    if op == "ShearX":
        # torchvision's convention: shear angle atan(magnitude), centred at the top-left corner
        return F.affine(images, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(magnitude)), 0.0],
                        interpolation=interpolation, fill=fill, center=[0, 0])
    if op == "ShearY":
        return F.affine(images, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(magnitude))],
                        interpolation=interpolation, fill=fill, center=[0, 0])
    if op == "TranslateX":
        return F.affine(images, angle=0.0, translate=[int(magnitude), 0], scale=1.0, shear=[0.0, 0.0],
                        interpolation=interpolation, fill=fill)
    if op == "TranslateY":
        return F.affine(images, angle=0.0, translate=[0, int(magnitude)], scale=1.0, shear=[0.0, 0.0],
                        interpolation=interpolation, fill=fill)
    if op == "Rotate":
        return F.rotate(images, angle=magnitude, interpolation=interpolation, fill=fill)
    colour: dict[str, Callable[[Tensor], Tensor]] = {
        "Brightness": lambda x: F.adjust_brightness(x, brightness_factor=1.0 + magnitude),
        "Color": lambda x: F.adjust_saturation(x, saturation_factor=1.0 + magnitude),
        "Contrast": lambda x: F.adjust_contrast(x, contrast_factor=1.0 + magnitude),
        "Sharpness": lambda x: F.adjust_sharpness(x, sharpness_factor=1.0 + magnitude),
        "Posterize": lambda x: F.posterize(x, bits=int(magnitude)),
        "Solarize": lambda x: F.solarize(x, threshold=255.0 * magnitude),  # uint8: bound 255
        "AutoContrast": F.autocontrast,
        "Equalize": F.equalize,
        "Invert": F.invert,
        "Identity": lambda x: x,
    }
    return colour[op](images)


@register("autoaugment")
class AutoAugment(Scheme):
    """torchvision's AutoAugment policy (CIFAR10 at 32 px, IMAGENET at 64 px), drawn per image.

    Geometric ops use nearest interpolation (torchvision's default) and paint uncovered
    pixels with ``fill`` (black if None).
    """

    row_params = True

    def __init__(self, policy: str | None = None, **common: Any):
        super().__init__(**common)
        default = "cifar10" if self.image_size <= 32 else "imagenet"
        self.policy = check_choice(policy or default, "policy", tuple(POLICIES))
        from torchvision.transforms import InterpolationMode, v2

        reference = v2.AutoAugment(v2.AutoAugmentPolicy[POLICIES[self.policy]])
        self.sub_policies = reference._policies  # [(op, probability, magnitude bin) x 2] per sub-policy
        self._space = reference._AUGMENTATION_SPACE
        self._probability = torch.tensor([[p for _, p, _ in sub] for sub in self.sub_policies], dtype=torch.float64)
        self.interpolation = InterpolationMode.NEAREST
        self.hparams.update(policy=self.policy, fill=self.fill)
        self._ops_by_size: dict[tuple[int, int], list] = {}

    def _ops(self, height: int, width: int) -> list:
        # [sub-policy][slot][negative] -> (op, signed magnitude); magnitudes depend on the image size
        if (height, width) not in self._ops_by_size:
            self._ops_by_size[(height, width)] = [
                [[(op, self.magnitude(op, bin_, negative, height, width)) for negative in (False, True)]
                 for op, _, bin_ in sub]
                for sub in self.sub_policies
            ]
        return self._ops_by_size[(height, width)]

    def magnitude(self, op: str, magnitude_bin: int | None, negative: bool, height: int, width: int) -> float:
        """The signed magnitude torchvision uses for ``op`` at ``magnitude_bin`` on an H x W image."""
        magnitudes_fn, signed = self._space[op]
        magnitudes = magnitudes_fn(_NUM_BINS, height, width)
        if magnitudes is None:
            return 0.0
        value = float(magnitudes[magnitude_bin])
        return -value if signed and negative else value

    def sample(self, images: Tensor, generator: torch.Generator) -> AutoAugmentParams:
        b = images.shape[0]
        n = self._draws(b)
        sub = torch.randint(len(self.sub_policies), (n,), generator=generator, device=generator.device)
        fire = torch.rand(n, 2, generator=generator, device=generator.device, dtype=torch.float64)
        # torchvision's test: an op fires when rand <= probability; a signed one is negated when rand <= 0.5
        applied = fire <= self._probability.to(generator.device)[sub]
        negative = torch.rand(n, 2, generator=generator, device=generator.device) <= 0.5
        return AutoAugmentParams(sub.expand(b), applied.expand(b, 2), negative.expand(b, 2))

    def apply(self, images: Tensor, params: AutoAugmentParams) -> Tensor:
        h, w = images.shape[-2:]
        fill = None if self.fill is None else [float(v) for v in self.fill]
        # the grouping needs the draws on the host: one sync per batch
        sub, applied, negative = (t.cpu().tolist() for t in params)
        ops = self._ops(h, w)
        out = images.clone()
        for slot in (0, 1):  # the sub-policy's first op on every image, then its second
            groups: dict[tuple[str, float], list[int]] = {}
            for i in (i for i, fires in enumerate(applied) if fires[slot]):
                groups.setdefault(ops[sub[i]][slot][negative[i][slot]], []).append(i)
            for (op, magnitude), members in groups.items():
                index = torch.tensor(members, device=images.device)
                group = out.index_select(0, index)
                out.index_copy_(0, index, apply_op(group, op, magnitude, interpolation=self.interpolation, fill=fill))
        return out


class RandAugmentParams(NamedTuple):
    ops: Tensor  # [B, n] int64, index into the op space, one per slot
    negative: Tensor  # [B, n] bool, sign flip of a signed op's magnitude


_RANDAUGMENT_BINS = 31  # torchvision's num_magnitude_bins: m indexes bins 0 .. 30


@register("randaugment")
class RandAugment(Scheme):
    """torchvision's RandAugment: ``n`` ops drawn uniformly (with replacement) per image, each at magnitude bin ``m``.

    The op space (14 ops, Identity included), the 31 magnitude bins and the sign flips are
    torchvision's ``v2.RandAugment``; the draws are dastat's, per image. Geometric ops use nearest
    interpolation and paint uncovered pixels with ``fill`` (black if None).
    """

    row_params = True

    def __init__(self, n: int = 2, m: int = 9, **common: Any):
        super().__init__(**common)
        self.n = check_int(n, "n", low=1)
        self.m = check_int(m, "m", low=0, high=_RANDAUGMENT_BINS - 1)
        from torchvision.transforms import InterpolationMode, v2

        self._space = v2.RandAugment._AUGMENTATION_SPACE
        self.op_names = list(self._space)
        self.interpolation = InterpolationMode.NEAREST
        self.hparams.update(n=self.n, m=self.m, fill=self.fill)
        self._magnitudes: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def magnitudes(self, height: int, width: int) -> list[tuple[float, float]]:
        """(positive, negative) magnitude of every op at bin ``m`` on an H x W image, as torchvision."""
        if (height, width) not in self._magnitudes:
            table = []
            for op in self.op_names:
                magnitudes_fn, signed = self._space[op]
                values = magnitudes_fn(_RANDAUGMENT_BINS, height, width)
                value = 0.0 if values is None else float(values[self.m])
                table.append((value, -value if signed else value))
            self._magnitudes[(height, width)] = table
        return self._magnitudes[(height, width)]

    def sample(self, images: Tensor, generator: torch.Generator) -> RandAugmentParams:
        b, draws = images.shape[0], self._draws(images.shape[0])
        ops = torch.randint(len(self.op_names), (draws, self.n), generator=generator, device=generator.device)
        # torchvision's test: a signed op is negated when rand <= 0.5
        negative = torch.rand(draws, self.n, generator=generator, device=generator.device) <= 0.5
        return RandAugmentParams(ops.to(images.device).expand(b, self.n),
                                 negative.to(images.device).expand(b, self.n))

    def apply(self, images: Tensor, params: RandAugmentParams) -> Tensor:
        table = self.magnitudes(*images.shape[-2:])
        fill = None if self.fill is None else [float(v) for v in self.fill]
        ops, negative = params.ops.cpu().tolist(), params.negative.cpu().tolist()  # one sync per batch
        out = images.clone()
        for slot in range(self.n):  # every image's first op, then its second, ...
            groups: dict[tuple[str, float], list[int]] = {}
            for i, (row, signs) in enumerate(zip(ops, negative)):
                op = row[slot]
                groups.setdefault((self.op_names[op], table[op][signs[slot]]), []).append(i)
            for (op, magnitude), members in groups.items():
                if op == "Identity":
                    continue
                index = torch.tensor(members, device=images.device)
                group = out.index_select(0, index)
                out.index_copy_(0, index, apply_op(group, op, magnitude, interpolation=self.interpolation, fill=fill))
        return out
