"""Sharing a probe's sets among the ranks of a ``torchrun`` launch (one process: a no-op)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def init_from_env(device: torch.device) -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); True when distributed."""
    if is_active():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def gather_sets(local: Tensor, num_sets: int, world: int) -> Tensor:
    """Put together one round's sets; rank r computed sets r, r + world, ... of the round.

    ``local`` is [n_r, ...] with n_r = ceil((num_sets - r) / world); returns [num_sets, ...] in
    set order, identical on every rank.
    """
    if world == 1:
        return local
    per_rank = -(-num_sets // world)
    padded = torch.zeros((per_rank, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    stacked = torch.stack(parts, dim=1)  # [per_rank, world, ...]: set j*world + r sits at [j, r]
    return stacked.reshape(per_rank * world, *local.shape[1:])[:num_sets]
