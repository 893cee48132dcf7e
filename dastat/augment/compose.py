"""Compositions: per-image schemes applied in turn, written ``a+b`` (docs/method.md, "Schemes")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment.scheme import RowLabels, Scheme
from dastat.errors import InvalidArgumentError


class ComposeParams(NamedTuple):
    stages: tuple  # each stage's drawn parameters, in order


class Compose(Scheme):
    """``stages[-1](... stages[0](x))``, each stage drawing from the same generator in turn.

    Every stage but one keeps each image in its row with its label; one stage may mix images
    (``flip_crop+mixup``), and the composition's x' rows then carry that stage's labels
    (:meth:`row_labels`). Two mixing stages would give a row more than two labels, and a scheme
    that picks from a pool (cutmixpick_*) scores the pool with a network: neither can be a stage.
    Built by :func:`dastat.augment.get` from a name such as ``flip_crop+cutout(side=4)``.
    """

    def __init__(self, stages: Sequence[Scheme]):
        stages = list(stages)
        if len(stages) < 2 or not all(isinstance(s, Scheme) for s in stages):
            raise InvalidArgumentError(f"a composition needs two or more dastat.augment.Scheme stages; got {stages!r}")
        for stage in stages:
            if stage.picks or stage.scorer is not None:
                raise InvalidArgumentError(
                    f"scheme {stage.name!r} picks images from a pool and cannot be a stage of a composition ('+'); "
                    "probe it on its own"
                )
        mixing = [s.name for s in stages if s.relabels]
        if len(mixing) > 1:
            raise InvalidArgumentError(
                f"schemes {' and '.join(map(repr, mixing))} both mix images: a composition ('+') may have one "
                "stage that mixes, so that each image carries at most two labels"
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

    @property
    def min_batch(self) -> int:  # type: ignore[override]
        return max(s.min_batch for s in self.stages)

    @property
    def relabels(self) -> bool:
        return any(s.relabels for s in self.stages)

    def row_labels(self, params: ComposeParams, labels: Tensor) -> RowLabels:
        """The mixing stage's labels; the other stages keep each image in its row with its label."""
        for stage, drawn in zip(self.stages, params.stages):
            if stage.relabels:
                return stage.row_labels(drawn, labels)
        return RowLabels.kept(labels)
