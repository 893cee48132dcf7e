"""Which distillation methods the trainer's tests run by default, and their options scaled to tiny data."""

from __future__ import annotations

import pytest

# CRD's memory and negatives scaled to the tiny split; everything else at its defaults.
OPTIONS = {"crd": {"nce_k": 16, "feat_dim": 16}}

# The default run covers one method of each kind (plain KD, CRD's memory and indices, VID's trained
# regressors, FitNet's connector, FT's frozen pre-trained part, AB's pre-trained student); -m slow runs all.
DEFAULT = ("kd", "crd", "vid", "hint", "factor", "abound")


def by_default_or_slow(names):
    """``names`` as pytest parameters: the default ones plain, the others marked slow."""
    return [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in names]
