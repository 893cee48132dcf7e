"""Compositions: per-image schemes applied in turn, written ``a+b`` (docs/method.md, "Schemes")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment.scheme import Scheme
from dastat.errors import InvalidArgumentError


class ComposeParams(NamedTuple):
    stages: tuple  # each stage's drawn parameters, in order


class Compose(Scheme):
    """``stages[-1](... stages[0](x))``, each stage drawing from the same generator in turn.

    Stages keep every image in its row and its label with it: a scheme that mixes pairs of
    images (mixup, cutmix) or picks from a pool (cutmixpick_*) cannot be a stage, as its
    x' rows would need label weights the composition does not describe. Built by
    :func:`dastat.augment.get` from a name such as ``flip_crop+cutout(side=4)``.
    """

    def __init__(self, stages: Sequence[Scheme]):
        stages = list(stages)
        if len(stages) < 2 or not all(isinstance(s, Scheme) for s in stages):
            raise InvalidArgumentError(f"a composition needs two or more dastat.augment.Scheme stages; got {stages!r}")
        for stage in stages:
            if stage.min_batch > 1 or stage.scorer is not None:
                what = "picks images from a pool" if stage.scorer is not None else "mixes pairs of images"
                raise InvalidArgumentError(
                    f"scheme {stage.name!r} {what} and cannot be a stage of a composition ('+'): a "
                    "composition chains schemes that keep each image in its row; probe it on its own"
                )
        first = stages[0]
        if any(s.image_size != first.image_size or s.randomness != first.randomness for s in stages):
            raise InvalidArgumentError("the stages of a composition must share image_size and randomness")
        super().__init__(image_size=first.image_size, randomness=first.randomness)
        self.stages = stages  # a list, so that the probe's record of plain settings skips the objects
        self.fill = next((s.fill for s in stages if s.fill is not None), None)
        self.hparams.update(stages=[s.name for s in stages], fill=self.fill)

    def _augment(self, images: Tensor, generator: torch.Generator, scorer: Any) -> tuple[Tensor, ComposeParams]:
        drawn = []
        for stage in self.stages:
            images, params = stage._augment(images, generator, None)
            drawn.append(params)
        return images, ComposeParams(tuple(drawn))
