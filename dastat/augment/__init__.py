"""Data augmentation schemes for KD, per-sample random and batched on the device (docs/method.md, "Schemes").

``get(name, image_size=32, randomness="sample", fill=None, **params)`` builds a scheme;
``scheme(x, generator=g, scorer=None)`` augments a uint8 batch [B,3,H,W].
"""

from __future__ import annotations

from dastat.augment import autoaugment, cutout, geometry, mixing, picking  # noqa: F401  (registers the schemes)
from dastat.augment.geometry import standard
from dastat.augment.picking import Pick, pick
from dastat.augment.scheme import Scheme, fill_colour, get, list_schemes, register, register_scheme, scorer_for
from dastat.augment.wrapping import from_transform

__all__ = ["Pick", "Scheme", "fill_colour", "from_transform", "get", "list_schemes", "pick", "register",
           "register_scheme", "scorer_for", "standard"]
