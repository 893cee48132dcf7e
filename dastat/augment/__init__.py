"""Data augmentation schemes for KD, per-sample random and batched on the device (docs/method.md, "Schemes").

``get(name, image_size=32, randomness="sample", fill=None, **params)`` builds a scheme from a name such as
``mixup(alpha=0.2)`` or ``flip_crop+cutout(side=4)``; ``canonical(name)`` is its one spelling;
``scheme(x, generator=g, scorer=None)`` augments a uint8 batch [B,3,H,W].
"""

from __future__ import annotations

from dastat.augment import autoaugment, compose, cutout, geometry, mixing, picking  # noqa: F401  (registers the schemes)
from dastat.augment.geometry import standard
from dastat.augment.picking import Pick, pick
from dastat.augment.scheme import RowLabels, Scheme, canonical, fill_colour, get, list_schemes, register, scorer_for
from dastat.augment.spelling import split_names
from dastat.augment.wrapping import from_transform

__all__ = ["Pick", "RowLabels", "Scheme", "canonical", "fill_colour", "from_transform", "get", "list_schemes", "pick",
           "register", "scorer_for", "split_names", "standard"]
