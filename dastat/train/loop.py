"""The epoch loop shared by ``fit`` and ``distill``: data on the device, checkpoints, resume, DDP.

A run's state is the model, the optimiser, the scheduler and every random generator (the data order,
the standard crop+flip, the scheme's draws, torch's global CPU RNG). All of it is saved at the end of
an epoch, so a run killed at any moment and resumed from its last checkpoint repeats exactly the
computation the uninterrupted run did: same weights and metrics, bit for bit, on CPU.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat import distributed as dd
from dastat.data.dataset import ImageTensorDataset
from dastat.errors import ConfigError, NumericalError
from dastat.train import checkpoint as ckpt
from dastat.train.evaluate import evaluate
from dastat.train.result import TrainResult, best_of, write_records
from dastat.train.schedule import make_optimizer, make_scheduler

# A step computes the loss of one batch: (augmented x uint8 [B,3,H,W], labels [B]) -> scalar; with
# ``LoopSpec.with_index`` it also takes the batch's dataset indices [B] (CRD's memory rows).
StepFn = Callable[..., Tensor]
# Steps between finiteness checks: each check is one host sync, which costs on a GPU.
_CHECK_EVERY = 50


@dataclass
class LoopSpec:
    """Everything the loop needs besides the model and data."""

    epochs: int
    lr: float
    milestones: list[int]
    batch_size: int
    seed: int
    device: torch.device
    config: dict[str, Any]
    augment: Callable  # the standard crop+flip: augment(x_uint8, generator=g) -> x
    extra_streams: tuple[str, ...] = ()  # further generators the step draws from ("scheme")
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    out_dir: Path | None = None
    checkpoint_every: int = 10
    resume: bool = False
    progress: bool = False
    on_step: Callable[[int, int], None] | None = None  # (epoch, step), both from 1; for tests and hooks
    world: dd.World = field(default_factory=dd.World)
    # A distillation method's own modules (embeddings, regressors, memory): optimised with the model,
    # saved in the checkpoint and restored on resume, gradients averaged over DDP ranks.
    method: nn.Module | None = None
    with_index: bool = False  # the step takes the batch's dataset indices


def _generators(spec: LoopSpec) -> dict[str, torch.Generator]:
    from dastat.rng import stream

    # Every rank draws its own crops and scheme parameters but the same order (cut into shards).
    suffix = f"@rank{spec.world.rank}" if spec.world.is_distributed else ""
    gens = {"order": stream(spec.seed, "order", spec.device), "base": stream(spec.seed, "base" + suffix, spec.device)}
    for name in spec.extra_streams:
        gens[name] = stream(spec.seed, name + suffix, spec.device)
    return gens


def _autocast(spec: LoopSpec):
    if not spec.amp:
        return contextlib.nullcontext()
    return torch.autocast(spec.device.type, dtype=torch.bfloat16)


def run_loop(model: nn.Module, train_set: ImageTensorDataset, test_set: ImageTensorDataset, spec: LoopSpec,
             make_step: Callable[[nn.Module, dict[str, torch.Generator]], StepFn],
             finish: Callable[[dict[str, Any]], dict[str, Any]]) -> TrainResult:
    """Train ``model`` for ``spec.epochs`` epochs.

    Parameters
    ----------
    model : nn.Module
        Takes uint8 images, returns logits; already on ``spec.device``.
    train_set, test_set : ImageTensorDataset
        Already on ``spec.device``.
    spec : LoopSpec
    make_step : callable
        ``make_step(train_model, generators) -> step``; ``train_model`` is the model to call for
        gradients (the DDP or compiled wrapper when there is one).
    finish : callable
        Builds the final record from ``{"curve", "last", "best", "elapsed_s"}``.
    """
    world, device = spec.world, spec.device
    out_dir = None if spec.out_dir is None else Path(spec.out_dir)
    ckpt_path = None if out_dir is None else out_dir / ckpt.CHECKPOINT_NAME
    if out_dir is not None and world.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if ckpt_path.exists() and not spec.resume:
            raise ConfigError(
                f"{out_dir} already holds a training run ({ckpt_path.name}); pass --resume (resume=True) "
                "to continue it, or choose another --out directory."
            )

    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    if spec.method is not None:
        params += [p for p in spec.method.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, spec.lr)
    scheduler = make_scheduler(optimizer, spec.milestones)
    gens = _generators(spec)

    curve: list[dict[str, Any]] = []
    start_epoch, elapsed = 0, 0.0
    if spec.resume and ckpt_path is not None and ckpt_path.exists():
        state = ckpt.load(ckpt_path, device="cpu")
        ckpt.check_same_config(state["config"], spec.config, out_dir)
        model.load_state_dict(state["model"])
        if spec.method is not None:
            spec.method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ckpt.restore_generators(gens, state["generators"][world.rank])
        # Restoring (not seeding) the global CPU RNG: anything in the model that draws from it
        # (dropout) then continues exactly where the checkpoint left it.
        torch.set_rng_state(state["torch_rng"][world.rank])
        if device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state(state["cuda_rng"][world.rank], device)
        start_epoch, elapsed, curve = int(state["epoch"]), float(state["elapsed_s"]), list(state["records"])
        if world.is_main:
            write_records(out_dir, curve)  # drop epochs the killed run logged after its checkpoint

    train_model: nn.Module = model
    if world.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if spec.compile:
        train_model = torch.compile(train_model)
    step_fn = make_step(train_model, gens)

    bar = None
    if spec.progress and world.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.epochs, initial=start_epoch, unit="epoch", dynamic_ncols=True)

    n_train = len(train_set)
    for epoch in range(start_epoch + 1, spec.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        if spec.method is not None:
            spec.method.train()
        order = torch.randperm(n_train, generator=gens["order"], device=gens["order"].device).to(train_set.device)
        order = dd.shard(order, world)
        batches = order.split(spec.batch_size)
        losses = torch.zeros(len(batches), device=device)  # [steps], kept on the device until checked
        lr_epoch = optimizer.param_groups[0]["lr"]
        for step, index in enumerate(batches, start=1):
            x = spec.augment(train_set.images[index], generator=gens["base"])
            labels = train_set.labels[index]
            with _autocast(spec):
                loss = step_fn(x, labels, index) if spec.with_index else step_fn(x, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.method is not None:
                dd.average_gradients(spec.method, world)
            optimizer.step()
            losses[step - 1] = loss.detach()
            if spec.on_step is not None:
                spec.on_step(epoch, step)
            if step % _CHECK_EVERY == 0 or step == len(batches):
                _check_finite(losses[:step], epoch, len(batches), world, ckpt_path)
        scheduler.step()
        train_loss = dd.all_mean(losses.mean(), world).item()

        if world.is_main:
            metrics = evaluate(model, test_set, amp=spec.amp)
            wall = time.perf_counter() - t0
            elapsed += wall
            curve.append({"epoch": epoch, **metrics, "train_loss": train_loss, "lr": lr_epoch, "wall_s": wall})
            if out_dir is not None:
                write_records(out_dir, curve)
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.4f}", acc1=f"{metrics['test_acc1']:.2f}")
                bar.update(1)
        else:
            elapsed += time.perf_counter() - t0

        if ckpt_path is not None and (epoch % spec.checkpoint_every == 0 or epoch == spec.epochs):
            _save(ckpt_path, model, optimizer, scheduler, gens, epoch, elapsed, curve, spec)
    if bar is not None:
        bar.close()

    model.eval()
    final = None
    if world.is_main:
        last = curve[-1]
        final = finish({"curve": curve, "last": last, "best": best_of(curve), "elapsed_s": elapsed})
        if out_dir is not None:
            write_records(out_dir, curve, final)
    final = dd.broadcast_object(final, world)
    curve = dd.broadcast_object(curve, world)
    return TrainResult(record=final, curve=curve, model=model, out_dir=out_dir)


def _check_finite(losses: Tensor, epoch: int, steps: int, world: dd.World, ckpt_path: Path | None) -> None:
    finite = torch.isfinite(losses)
    bad = (~finite).any().to(torch.float32)
    if world.is_distributed:
        bad = dd.all_mean(bad, world)
    if bad.item() == 0:
        return
    local_bad = (~finite).nonzero()
    first = int(local_bad[0, 0]) + 1 if len(local_bad) else None
    where = f"epoch {epoch}, step {first} of {steps}" if first else f"epoch {epoch} (on another rank)"
    value = losses[first - 1].item() if first else float("nan")
    kept = (f"the last good checkpoint {ckpt_path} was kept" if ckpt_path is not None and ckpt_path.exists()
            else "no checkpoint had been written yet")
    raise NumericalError(
        f"the training loss became {value} at {where}; training stopped and {kept}. "
        "Lower the learning rate, or check the teacher and the input data for NaN/inf."
    )


def _save(path: Path, model: nn.Module, optimizer, scheduler, gens: dict[str, torch.Generator], epoch: int,
          elapsed: float, curve: list[dict[str, Any]], spec: LoopSpec) -> None:
    world = spec.world
    # Each rank draws its own augmentations: rank 0 keeps every rank's generator states.
    per_rank = dd.gather_objects(
        {
            "generators": ckpt.generator_states(gens),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(spec.device) if spec.device.type == "cuda" else None,
        },
        world,
    )
    if world.is_main:
        state = {
            "format": ckpt.FORMAT,
            "config": spec.config,
            "epoch": epoch,
            "model": model.state_dict(),
            **({} if spec.method is None else {"method": spec.method.state_dict()}),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generators": [r["generators"] for r in per_rank],
            "torch_rng": [r["torch_rng"] for r in per_rank],
            "cuda_rng": [r["cuda_rng"] for r in per_rank] if spec.device.type == "cuda" else None,
            "records": curve,
            "best": best_of(curve),
            "elapsed_s": elapsed,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        ckpt.save_atomic(state, path)
    dd.barrier(world)
