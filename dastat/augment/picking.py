"""Entropy picking: run a scheme several times, keep the images the scorer is least sure of
(docs/method.md, "Schemes")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from dastat.augment.scheme import RowLabels, Scheme, get, register
from dastat.checks import check_choice, check_float, check_int
from dastat.errors import InvalidArgumentError

CRITERIA = {"teacher_entropy": "teacher", "student_entropy": "student", "kl": "teacher+student"}


class PickParams(NamedTuple):
    pool_params: tuple  # the base scheme's parameters, one entry per run
    scores: Tensor  # [pool] float32, the criterion for every pool image
    kept: Tensor  # [k] int64, pool indices kept, highest score first


def _entropy(logits: Tensor) -> Tensor:
    log_p = logits.float().log_softmax(-1)  # temperature 1, as the reference
    return -(log_p.exp() * log_p).sum(-1)


def _kl(logits_t: Tensor, logits_s: Tensor) -> Tensor:
    log_p_t, log_p_s = logits_t.float().log_softmax(-1), logits_s.float().log_softmax(-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


class Pick(Scheme):
    """Run ``base`` ``pool_factor`` times, keep the highest-scoring images of the pool.

    Scores: ``"teacher_entropy"`` / ``"student_entropy"`` = entropy of the scorer's softmax at
    T = 1 (``scorer`` = that network); ``"kl"`` = KL(teacher ‖ student) per image
    (``scorer`` = a ``(teacher, student)`` pair). The scorers run under ``torch.no_grad`` in
    whatever train/eval mode the caller left them.
    """

    picks = True

    def __init__(
        self,
        base: Scheme,
        criterion: str = "teacher_entropy",
        pool_factor: int = 2,
        keep: float = 0.5,
        keep_count: int | None = None,
    ):
        if not isinstance(base, Scheme):
            raise InvalidArgumentError(f"base must be a dastat.augment.Scheme; got {base!r}")
        super().__init__(image_size=base.image_size, randomness=base.randomness, fill=base.fill)
        self.base = base
        self.criterion = check_choice(criterion, "criterion", tuple(CRITERIA))
        self.scorer = CRITERIA[self.criterion]  # type: ignore[misc]  # per instance, unlike other schemes
        self.min_batch = base.min_batch  # type: ignore[misc]
        self.pool_factor = check_int(pool_factor, "pool_factor", low=1)
        self.keep = check_float(keep, "keep", low=0, high=1, low_open=True)
        self.keep_count = None if keep_count is None else check_int(keep_count, "keep_count", low=1)
        self.name = f"pick({base.name})"
        self.hparams = {
            **base.hparams,
            "base": base.name,
            "criterion": self.criterion,
            "pool_factor": self.pool_factor,
            "keep": self.keep,
            "keep_count": self.keep_count,
        }

    def kept_count(self, batch_size: int) -> int:
        """How many images a batch of ``batch_size`` gives back."""
        pool = self.pool_factor * batch_size
        if self.keep_count is not None:
            return min(self.keep_count, pool)  # the reference's absolute 64: all of a short batch's pool
        return max(1, math.floor(self.keep * pool + 0.5))

    def pool_labels(self, pool_params: Sequence, labels: Tensor) -> RowLabels:
        """The labels of a pool: ``base``'s rows, run after run, for a batch with ``labels``."""
        return RowLabels.cat([self.base.row_labels(p, labels) for p in pool_params])

    def row_labels(self, params: PickParams, labels: Tensor) -> RowLabels:
        """The kept pool rows' labels, highest score first."""
        return self.pool_labels(params.pool_params, labels).select(params.kept)

    def score(self, logits: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """The criterion per pool image from the scorer's logits (a (teacher, student) pair for "kl")."""
        return _kl(*logits) if self.criterion == "kl" else _entropy(logits)

    def _scores(self, pool: Tensor, scorer: Any) -> Tensor:
        with torch.no_grad():
            if self.criterion == "kl":
                teacher, student = scorer
                return self.score((teacher(pool), student(pool)))
            return self.score(scorer(pool))

    def _check_scorer(self, scorer: Any) -> None:
        if self.criterion == "kl":
            ok = isinstance(scorer, (tuple, list)) and len(scorer) == 2 and all(map(callable, scorer))
            what = "a (teacher, student) pair of networks returning logits"
        else:
            ok = callable(scorer) and not isinstance(scorer, (tuple, list))
            what = f"the {self.scorer} (a network returning logits)"
        if not ok:
            raise InvalidArgumentError(
                f"scheme {self.name!r} ranks its pool by {self.criterion}: pass scorer={what}; "
                f"got {type(scorer).__name__}"
            )

    def _augment(self, images: Tensor, generator: torch.Generator, scorer: Any) -> tuple[Tensor, PickParams]:
        self._check_scorer(scorer)
        runs = [self.base._augment(images, generator, None) for _ in range(self.pool_factor)]
        pool = torch.cat([augmented for augmented, _ in runs])  # [pool_factor·B, 3, H, W]
        scores = self._scores(pool, scorer)
        kept = scores.topk(self.kept_count(images.shape[0])).indices
        return pool.index_select(0, kept), PickParams(tuple(p for _, p in runs), scores, kept)


def pick(
    base: Scheme | str,
    criterion: str = "teacher_entropy",
    pool_factor: int = 2,
    keep: float = 0.5,
    keep_count: int | None = None,
    **base_params: Any,
) -> Pick:
    """Wrap any scheme in entropy picking.

    Parameters
    ----------
    base : Scheme or str
        The scheme (or its name; ``base_params`` such as ``image_size`` go to :func:`get`).
    criterion : {"teacher_entropy", "student_entropy", "kl"}
        What ranks the pool; the call then needs ``scorer=`` the teacher, the student, or a
        ``(teacher, student)`` pair for ``"kl"``.
    pool_factor : int
        How many times ``base`` runs on the batch: a pool of ``pool_factor·B`` images.
    keep : float in (0, 1]
        Fraction of the pool kept (0.5 with pool_factor 2 gives back B images).
    keep_count : int or None
        An absolute count instead, capped at the pool (the reference's 64, protocol ``paper``).

    Returns
    -------
    Pick
        A scheme whose call returns the kept images, highest score first.
    """
    if isinstance(base, str):
        base = get(base, **base_params)
    elif base_params:
        raise InvalidArgumentError(f"settings {sorted(base_params)} apply only when base is a scheme name")
    return Pick(base, criterion, pool_factor, keep, keep_count)


def _cutmixpick(criterion: str, image_size, randomness, fill, alpha, pool_factor, keep, keep_count) -> Pick:
    base = get("cutmix", image_size=image_size, randomness=randomness, fill=fill, alpha=alpha)
    return Pick(base, criterion, pool_factor, keep, keep_count)


@register("cutmixpick_t")
def cutmixpick_t(
    image_size: int = 32,
    randomness: str = "sample",
    fill: Any = None,
    alpha: float = 1.0,
    pool_factor: int = 2,
    keep: float = 0.5,
    keep_count: int | None = None,
) -> Pick:
    """CutMix run twice, keep the half of the pool with the highest teacher entropy (docs/method.md, "Schemes")."""
    return _cutmixpick("teacher_entropy", image_size, randomness, fill, alpha, pool_factor, keep, keep_count)


@register("cutmixpick_s")
def cutmixpick_s(
    image_size: int = 32,
    randomness: str = "sample",
    fill: Any = None,
    alpha: float = 1.0,
    pool_factor: int = 2,
    keep: float = 0.5,
    keep_count: int | None = None,
) -> Pick:
    """CutMix run twice, keep the half of the pool with the highest student entropy (docs/method.md, "Schemes")."""
    return _cutmixpick("student_entropy", image_size, randomness, fill, alpha, pool_factor, keep, keep_count)


@register("cutmixpick_kl")
def cutmixpick_kl(
    image_size: int = 32,
    randomness: str = "sample",
    fill: Any = None,
    alpha: float = 1.0,
    pool_factor: int = 2,
    keep: float = 0.5,
    keep_count: int | None = None,
) -> Pick:
    """CutMix run twice, keep the half of the pool with the highest KL(teacher ‖ student)
    (docs/method.md, "Schemes")."""
    return _cutmixpick("kl", image_size, randomness, fill, alpha, pool_factor, keep, keep_count)


__all__ = ["CRITERIA", "Pick", "PickParams", "pick"]
