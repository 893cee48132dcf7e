"""Running under ``torchrun``, for probe and trainer alike: the world, joining it, sharding and gathering.

A single process (no torchrun) is a world of one, and every function is then a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size`` processes (1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect_world() -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    size = int(os.environ.get("WORLD_SIZE", 1))
    if size <= 1 or "RANK" not in os.environ:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", 0)))


def init_process_group(world: World, device: torch.device) -> bool:
    """Join the process group when torchrun started us; returns whether we created it."""
    if not world.is_distributed or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def join(device: torch.device) -> tuple[World, torch.device]:
    """The world torchrun describes, joined: this rank's device (``cuda:LOCAL_RANK`` on CUDA) and the group."""
    world = detect_world()
    if world.is_distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    init_process_group(world, device)
    return world, device


def shard(order: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's share of a shuffled order, as ``DistributedSampler`` cuts it.

    The order is padded with its own head to a multiple of the world size, then rank r takes
    positions r, r + W, r + 2W, ...: shards are disjoint apart from the padding, and of equal length,
    so every rank runs the same number of steps.
    """
    if not world.is_distributed:
        return order
    pad = (-len(order)) % world.size
    if pad:
        order = torch.cat([order, order[:pad]])
    return order[world.rank :: world.size]


def all_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    """Mean of a tensor over the ranks (the tensor itself when not distributed)."""
    if not world.is_distributed:
        return value
    total = value.clone()
    dist.all_reduce(total)
    return total / world.size


def gather_objects(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order."""
    if not world.is_distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.is_distributed:
        dist.barrier()


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not world.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def average_gradients(module: torch.nn.Module, world: World) -> None:
    """Average the gradients of a module that is not inside DDP (a method's embeddings) over the ranks."""
    if not world.is_distributed:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world.size


def broadcast_module(module: torch.nn.Module, world: World) -> None:
    """Rank 0's parameters and buffers on every rank."""
    if not world.is_distributed:
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=0)


def gather_sets(local: torch.Tensor, num_sets: int, world: World) -> torch.Tensor:
    """Put together one round's sets; rank r computed sets r, r + W, ... of the round (W = world size).

    ``local`` is [n_r, ...] with n_r = ceil((num_sets - r) / W); returns [num_sets, ...] in
    set order, identical on every rank.
    """
    if not world.is_distributed:
        return local
    per_rank = -(-num_sets // world.size)
    padded = torch.zeros((per_rank, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    stacked = torch.stack(parts, dim=1)  # [per_rank, W, ...]: set j*W + r sits at [j, r]
    return stacked.reshape(per_rank * world.size, *local.shape[1:])[:num_sets]
