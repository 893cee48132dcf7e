"""Training checkpoints: written atomically, holding everything a bit-exact resume needs."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from dastat.errors import CheckpointError, ConfigError
from dastat.train.result import best_of

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "dastat-train-checkpoint/1"
# Keys of a run's configuration that may change between a run and its resume without changing the
# computation (versions are recorded, not enforced: a patch release must not strand a long run).
_FREE_KEYS = ("dastat_version", "torch_version", "out_dir", "progress", "checkpoint_every", "created_at")


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` so that a kill at any moment leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic on POSIX: readers see the whole old or the whole new file


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (tensors only: no arbitrary unpickling)."""
    try:
        state = torch.load(Path(path), map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"cannot read training checkpoint {path}: {err}. Delete it to start over.") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dastat training checkpoint (expected format {FORMAT!r}).")
    return state


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: saved -> current`` lines for every setting that differs."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if key in _FREE_KEYS:
            continue
        old, new = saved.get(key, "<unset>"), current.get(key, "<unset>")
        if old != new:
            diffs.append(f"{key}: {old!r} in the directory, {new!r} now")
    return diffs


def check_same_config(saved: dict[str, Any], current: dict[str, Any], out_dir: Path) -> None:
    """Refuse to resume a run whose configuration differs, naming what differs."""
    diffs = config_differences(saved, current)
    if diffs:
        raise ConfigError(
            f"cannot resume in {out_dir}: it holds a run with a different configuration ("
            + "; ".join(diffs)
            + "). Use the same settings, or a new --out directory."
        )


def run_state(config: dict[str, Any], epoch: int, model: dict[str, Any], optimizer: dict[str, Any],
              scheduler: dict[str, Any], *, generators: list[dict[str, torch.Tensor]], torch_rng: list[torch.Tensor],
              cuda_rng: list[torch.Tensor] | None, records: list[dict[str, Any]], elapsed: float,
              method: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's checkpoint (format :data:`FORMAT`): what a bit-exact resume of that run needs.

    ``generators``, ``torch_rng`` and ``cuda_rng`` hold one entry per DDP rank (each draws its own crops).
    """
    return {
        "format": FORMAT,
        "config": config,
        "epoch": epoch,
        "model": model,
        **({} if method is None else {"method": method}),
        "optimizer": optimizer,
        "scheduler": scheduler,
        "generators": generators,
        "torch_rng": torch_rng,
        "cuda_rng": cuda_rng,
        "records": records,
        "best": best_of(records),
        "elapsed_s": elapsed,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def rng_states(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """torch's global CPU RNG state, and the CUDA one on a CUDA device."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def restore_rng(torch_rng: torch.Tensor, cuda_rng: torch.Tensor | None, device: torch.device) -> None:
    torch.set_rng_state(torch_rng)
    if device.type == "cuda" and cuda_rng is not None:
        torch.cuda.set_rng_state(cuda_rng, device)


def generator_states(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {name: g.get_state() for name, g in generators.items()}


def restore_generators(generators: dict[str, torch.Generator], states: dict[str, torch.Tensor]) -> None:
    missing = set(generators) - set(states)
    if missing:
        raise CheckpointError(f"training checkpoint lacks generator state for {sorted(missing)}")
    for name, g in generators.items():
        g.set_state(states[name].cpu())
