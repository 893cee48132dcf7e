"""Seeded class-stratified subsampling (``max_images=N``)."""

from __future__ import annotations

import torch
from torch import Tensor

from dastat.checks import check_int
from dastat.rng import stream


def stratified_indices(labels: Tensor, max_images: int, seed: int = 0) -> Tensor:
    """Indices of a class-stratified random subsample of ``max_images`` rows, in their original order.

    Each class keeps a share of ``max_images`` proportional to its size (largest remainders
    get the leftover places, ties to the lower class index), drawn without replacement.

    Parameters
    ----------
    labels : Tensor, int64, shape [N]
        Class of every row.
    max_images : int
        How many rows to keep (>= 1); all rows are kept when ``max_images >= N``.
    seed : int
        Seed of the draw; the same seed gives the same rows.

    Returns
    -------
    Tensor, int64, shape [min(max_images, N)]
        Sorted row indices.
    """
    max_images = check_int(max_images, "max_images", low=1)
    labels = labels.cpu()
    n = len(labels)
    if max_images >= n:
        return torch.arange(n)
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * max_images / n
    quota = exact.floor().long()
    leftover = max_images - int(quota.sum())
    # Largest remainder first; a stable sort keeps ties in class order.
    order = torch.sort(exact - quota, descending=True, stable=True).indices
    quota[order[:leftover]] += 1
    g = stream(seed, "subsample")
    keep = []
    for c, k in zip(classes.tolist(), quota.tolist()):
        if k == 0:
            continue
        rows = torch.nonzero(labels == c).flatten()
        keep.append(rows[torch.randperm(len(rows), generator=g)[:k]])
    return torch.sort(torch.cat(keep)).values
