"""Generator-driven draws the schemes share: Beta variates and derangement pairings.

Everything here draws on ``generator.device``; nothing touches a global random state.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` draws from U[0, 1)."""
    return torch.rand(n, generator=generator, device=generator.device, dtype=dtype)


def gamma(shape: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` draws from Gamma(shape, 1), float64, by Marsaglia & Tsang (2000).

    torch's own gamma sampler takes no generator, so this one is built from the generator's
    normals and uniforms. Rejection runs in rounds over the still-missing draws; each round
    accepts > 95% of its candidates, so a few rounds (one host sync each) suffice.
    """
    boost = shape < 1  # Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1 (Marsaglia & Tsang, sec. 6)
    a = shape + 1 if boost else shape
    d = a - 1 / 3
    c = 1 / (9 * d) ** 0.5
    out = torch.empty(n, dtype=torch.float64, device=generator.device)
    missing = torch.arange(n, device=generator.device)
    while missing.numel():
        m = missing.numel()
        z = torch.randn(m, generator=generator, device=generator.device, dtype=torch.float64)
        u = uniform(m, generator)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[missing[ok]] = d * v[ok]
        missing = missing[~ok]
    if boost:
        out *= uniform(n, generator) ** (1 / shape)
    return out


def beta(alpha: float, beta_: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` draws from Beta(alpha, beta_), float64.

    Beta(1, 1) is U(0, 1) and is drawn directly (no rejection, no host sync); other shapes
    go through two Gamma variates, X / (X + Y).
    """
    if alpha == 1 and beta_ == 1:
        return uniform(n, generator)
    x = gamma(alpha, n, generator)
    y = gamma(beta_, n, generator)
    return x / (x + y)


def derangement(n: int, generator: torch.Generator) -> Tensor:
    """A random pairing ``partner`` [n] int64 with ``partner[i] != i`` for every i (n >= 2).

    A random permutation read as one cycle: image ``order[k]`` is paired with
    ``order[k + 1]``. Each image's partner is uniform over the other n - 1 images.
    """
    order = torch.randperm(n, generator=generator, device=generator.device)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-1)
    return partner
