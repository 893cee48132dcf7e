"""The one epoch loop of ``fit``, ``distill`` and ``distill_cohort``: data on the device, checkpoints, resume, DDP.

The loop trains *members* (runs) that share one network and one optimiser: a single run is a cohort of one
member on a plain network (:class:`Trainee`), a cohort is many on a fused network
(:class:`dastat.train.cohort.Cohort`). Members of one seed form a group: they share the data order and the
standard crop+flip x. Per epoch, every step computes each member's loss ``[N]``, the members still training
take one optimiser step together, the loss is checked for NaN/inf, the test set is scored (from epoch
``test_from`` on; an earlier epoch's row has no test metrics) and every member's records are written.

A run's state is the model, the optimiser, the scheduler and every random generator (the data order, the
standard crop+flip, the scheme's draws, torch's global CPU RNG). All of it is saved at the end of an epoch,
so a run killed at any moment and resumed from its last checkpoint repeats exactly the computation the
uninterrupted run did: same weights and metrics, bit for bit, on CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat import distributed as dd
from dastat.checks import check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import autocast
from dastat.errors import ConfigError, NumericalError
from dastat.rng import stream
from dastat.train import checkpoint as ckpt
from dastat.train.evaluate import evaluate_members
from dastat.train.result import TrainResult, best_of, write_records
from dastat.train.schedule import make_optimizer, make_scheduler

# A step maps one batch per seed group (augmented x uint8 [B,3,H,W], labels [B], dataset indices [B]) to
# every member's loss [N]; it is built by ``make_step(train_model, group_streams)``.
StepFn = Callable[[list[Tensor], list[Tensor], list[Tensor]], Tensor]
MakeStep = Callable[[nn.Module, list[dict[str, torch.Generator]]], StepFn]
# An epoch's row before ``LoopSpec.test_from``: the test set was not scored.
UNTESTED = {"test_loss": None, "test_acc1": None, "test_acc5": None}
# Steps between finiteness checks: each check is one host sync, which costs on a GPU.
_CHECK_EVERY = 50


@dataclass
class Member:
    """One run of the loop: its seed, configuration, run directory, own generators, records and fate."""

    seed: int
    config: dict[str, Any]
    out_dir: Path | None = None
    scheme: Any = None  # the DA making x' (distillation), with what its picking scores with
    scorer: Any = None
    group: int = 0  # index of its seed among the trainee's seeds (set by Trainee)
    streams: dict[str, torch.Generator] = field(default_factory=dict)  # "scheme", "method": its own draws
    curve: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why it stopped (a NaN or infinite loss); None while it trains

    @property
    def name(self) -> str:
        return f"{getattr(self.scheme, 'name', self.scheme)}:s{self.seed}"


@dataclass
class LoopSpec:
    """Everything the loop needs besides the trainee and the data."""

    epochs: int
    lr: float
    milestones: list[int]
    batch_size: int
    device: torch.device
    augment: Callable  # the standard crop+flip: augment(x_uint8, generator=g) -> x
    extra_streams: tuple[str, ...] = ()  # each member's own generators beside its group's ("scheme", "method")
    amp: bool = False
    compile: bool = False
    checkpoint_every: int = 10
    test_from: int = 1  # the first epoch whose end scores the test set; the last epoch always does
    resume: bool = False
    progress: bool = False
    on_step: Callable[[int, int], None] | None = None  # (epoch, step), both from 1; for tests and hooks
    on_epoch: Callable[[CohortProgress], None] | None = None  # called after every epoch
    world: dd.World = field(default_factory=dd.World)

    def __post_init__(self) -> None:
        self.checkpoint_every = check_int(self.checkpoint_every, "checkpoint_every", low=1)
        self.test_from = check_int(self.test_from, "test_from", low=1, high=self.epochs)

    def tests(self, epoch: int) -> bool:
        """Whether the test set is scored after ``epoch``."""
        return epoch >= self.test_from


@dataclass(frozen=True)
class CohortProgress:
    """A cohort's state after one epoch, as ``distill_cohort`` reports it to ``on_epoch``."""

    epoch: int
    epochs: int
    members: tuple[str, ...]  # every member as "scheme:s<seed>", in the order of ``runs``
    failed: tuple[str, ...]  # the members stopped by a NaN or infinite loss
    images_per_s: float  # training images of the members still training, per second of the epoch

    @property
    def active(self) -> int:
        """How many members are still training."""
        return len(self.members) - len(self.failed)


@dataclass
class LoopState:
    """What the loop carries between epochs (and a checkpoint holds)."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    groups: list[dict[str, torch.Generator]]  # per seed group: "order" and "base"
    epoch: int = 0
    elapsed: float = 0.0


class Trainee:
    """What the loop trains: one network and its one member (a run), or, in a subclass, a fused cohort.

    ``method`` is a distillation method's own modules (embeddings, regressors, memory): optimised with
    the model, saved in the checkpoint and restored on resume, gradients averaged over DDP ranks.
    """

    def __init__(self, model: nn.Module, members: list[Member], method: nn.Module | None = None):
        self.model, self.members, self.method = model, members, method
        self.seeds = list(dict.fromkeys(m.seed for m in members))
        for m in members:
            m.group = self.seeds.index(m.seed)

    @property
    def n(self) -> int:
        return len(self.members)

    def parameters(self) -> list[nn.Parameter]:
        params = list(self.model.parameters())
        if self.method is not None:
            params += [p for p in self.method.parameters() if p.requires_grad]
        return params

    def train(self) -> None:
        self.model.train()
        if self.method is not None:
            self.method.train()

    def forward(self, train_model: nn.Module, batches: list[Tensor], **kwargs: Any) -> Any:
        """Logits ``[N, B, C]`` of member i on ``batches[i]`` (with ``is_feat=True``: the features too)."""
        out = train_model(batches[0], **kwargs)
        return (out[0], out[1][None]) if kwargs.get("is_feat") else out[None]

    def evaluate(self, test_set: ImageTensorDataset, amp: bool) -> list[dict[str, float]]:
        return evaluate_members(self.model, test_set, None, amp=amp)

    def stop(self, i: int, message: str, optimizer: torch.optim.Optimizer) -> None:
        """A member's loss became NaN or infinite: a run stops with the error."""
        raise NumericalError(message)

    def member_model(self, i: int) -> nn.Module:
        return self.model

    def member_state(self, i: int) -> dict[str, Tensor]:
        return self.model.state_dict()

    def member_optimizer_state(self, i: int, state: dict[str, Any]) -> dict[str, Any]:
        return state

    def load(self, state: LoopState, spec: LoopSpec) -> None:
        """Resume from the run directory's checkpoint (none there: a fresh start)."""
        m, world = self.members[0], spec.world
        path = None if m.out_dir is None else m.out_dir / ckpt.CHECKPOINT_NAME
        if not spec.resume or path is None or not path.exists():
            return
        saved = ckpt.load(path, device="cpu")
        ckpt.check_same_config(saved["config"], m.config, m.out_dir)
        self.model.load_state_dict(saved["model"])
        if self.method is not None:
            self.method.load_state_dict(saved["method"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.scheduler.load_state_dict(saved["scheduler"])
        ckpt.restore_generators({**state.groups[0], **m.streams}, saved["generators"][world.rank])
        # Restoring (not seeding) the global CPU RNG: anything in the model that draws from it
        # (dropout) then continues exactly where the checkpoint left it.
        cuda_rng = saved.get("cuda_rng")
        ckpt.restore_rng(saved["torch_rng"][world.rank], cuda_rng[world.rank] if cuda_rng else None, spec.device)
        state.epoch, state.elapsed, m.curve = int(saved["epoch"]), float(saved["elapsed_s"]), list(saved["records"])

    def save(self, state: LoopState, spec: LoopSpec) -> None:
        """What the trainee keeps beside its members' checkpoints (a cohort: its own file)."""

    def progress_bar(self, epochs: int, initial: int) -> Any:
        return _RunBar(self.members[0], epochs, initial)


class _RunBar:
    """A single run's bar over epochs: loss, test accuracy, ETA."""

    def __init__(self, member: Member, epochs: int, initial: int):
        from tqdm.auto import tqdm

        self.member = member
        self.bar = tqdm(total=epochs, initial=initial, unit="epoch", dynamic_ncols=True)

    def __call__(self, report: Any) -> None:
        row = self.member.curve[-1]
        acc1 = row["test_acc1"]
        self.bar.set_postfix(loss=f"{row['train_loss']:.4f}", acc1="-" if acc1 is None else f"{acc1:.2f}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_loop(trainee: Trainee, train_set: ImageTensorDataset, test_set: ImageTensorDataset, spec: LoopSpec,
             make_step: MakeStep) -> None:
    """Train ``trainee`` for ``spec.epochs`` epochs; each member's records end in ``member.curve``.

    Parameters
    ----------
    trainee : Trainee
        The network (already on ``spec.device``; uint8 images in, logits out) and its members.
    train_set, test_set : ImageTensorDataset
        Already on ``spec.device``.
    spec : LoopSpec
    make_step : callable
        ``make_step(train_model, group_streams) -> step``; ``train_model`` is the network to call for
        gradients (the DDP or compiled wrapper when there is one).
    """
    world = spec.world
    state = _start(trainee, spec)
    step_fn = make_step(_wrap(trainee.model, spec), state.groups)
    bar = trainee.progress_bar(spec.epochs, state.epoch) if spec.progress and world.is_main else None
    names = tuple(m.name for m in trainee.members)
    for epoch in range(state.epoch + 1, spec.epochs + 1):
        if all(m.error is not None for m in trainee.members):
            break
        t0 = time.perf_counter()
        lr_epoch = state.optimizer.param_groups[0]["lr"]
        losses = _train_epoch(trainee, train_set, spec, state, step_fn, epoch)  # [N, steps]
        state.scheduler.step()
        train_wall = time.perf_counter() - t0
        train_loss = [dd.all_mean(row.mean(), world).item() for row in losses]
        if world.is_main:
            metrics = trainee.evaluate(test_set, spec.amp) if spec.tests(epoch) else [UNTESTED] * trainee.n
            wall = time.perf_counter() - t0
            _record_epoch(trainee, epoch, metrics, train_loss, lr_epoch, wall)
            active = sum(m.error is None for m in trainee.members)
            report = CohortProgress(epoch, spec.epochs, names, tuple(m.name for m in trainee.members if m.error),
                                    active * len(train_set) / train_wall)
            for callback in (bar, spec.on_epoch):
                if callback is not None:
                    callback(report)
        else:
            wall = time.perf_counter() - t0
        state.elapsed += wall
        state.epoch = epoch
        if epoch % spec.checkpoint_every == 0 or epoch == spec.epochs:
            _save(trainee, state, spec)
    if bar is not None:
        bar.close()
    trainee.model.eval()


def _record_epoch(trainee: Trainee, epoch: int, metrics: list[dict[str, float]], train_loss: list[float],
                  lr: float, wall: float) -> None:
    """Each member still training gets the epoch's row, written to its run directory."""
    for i, m in enumerate(trainee.members):
        if m.error is None:
            m.curve.append({"epoch": epoch, **metrics[i], "train_loss": train_loss[i], "lr": lr,
                            "wall_s": wall / trainee.n})
            if m.out_dir is not None:
                write_records(m.out_dir, m.curve)


def _start(trainee: Trainee, spec: LoopSpec) -> LoopState:
    """The optimiser, the scheduler and the generators, fresh or as the checkpoint left them."""
    world = spec.world
    for m in trainee.members:
        if m.out_dir is not None and world.is_main:
            m.out_dir.mkdir(parents=True, exist_ok=True)
            if (m.out_dir / ckpt.CHECKPOINT_NAME).exists() and not spec.resume:
                raise ConfigError(f"{m.out_dir} already holds a training run ({ckpt.CHECKPOINT_NAME}); pass "
                                  "--resume (resume=True) to continue it, or choose another --out directory.")
    optimizer = make_optimizer(trainee.parameters(), spec.lr)
    # Every rank draws its own crops and scheme parameters but the same order (cut into shards); members
    # of one seed share the order and crops, and each draws from the generators its run alone would.
    suffix = f"@rank{world.rank}" if world.is_distributed else ""
    groups = [{"order": stream(s, "order", spec.device), "base": stream(s, "base" + suffix, spec.device)}
              for s in trainee.seeds]
    for m in trainee.members:
        m.streams = {name: stream(m.seed, name + suffix, spec.device) for name in spec.extra_streams}
    state = LoopState(optimizer, make_scheduler(optimizer, spec.milestones), groups)
    trainee.load(state, spec)
    if world.is_main:
        for m in trainee.members:
            if m.out_dir is not None and state.epoch:
                write_records(m.out_dir, m.curve)  # drop epochs the killed run logged after its checkpoint
    return state


def _wrap(model: nn.Module, spec: LoopSpec) -> nn.Module:
    if spec.world.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        device = spec.device
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(model) if spec.compile else model


def _train_epoch(trainee: Trainee, train_set: ImageTensorDataset, spec: LoopSpec, state: LoopState,
                 step_fn: StepFn, epoch: int) -> Tensor:
    """One pass over the training set; returns every member's loss at every step ``[N, steps]``."""
    trainee.train()
    orders = [dd.shard(torch.randperm(len(train_set), generator=g["order"], device=g["order"].device)
                       .to(train_set.device), spec.world) for g in state.groups]
    batches = list(zip(*[order.split(spec.batch_size) for order in orders]))
    losses = torch.zeros(trainee.n, len(batches), device=spec.device)  # kept on the device until checked
    active = _active(trainee, spec.device)
    for step, index in enumerate(batches, start=1):
        xs = [spec.augment(train_set.images[idx], generator=g["base"]) for idx, g in zip(index, state.groups)]
        labels = [train_set.labels[idx] for idx in index]
        with autocast(spec.device, spec.amp):
            step_losses = step_fn(xs, labels, list(index))  # [N]
        # A stopped member's loss leaves the sum, so its NaN reaches no gradient.
        total = torch.where(active, step_losses, torch.zeros_like(step_losses)).sum()
        state.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if trainee.method is not None:
            dd.average_gradients(trainee.method, spec.world)
        state.optimizer.step()
        losses[:, step - 1] = step_losses.detach()
        if spec.on_step is not None:
            spec.on_step(epoch, step)
        is_check = step % _CHECK_EVERY == 0 or step == len(batches)
        if is_check and _stop_nonfinite(trainee, losses[:, :step], epoch, len(batches), spec.world, state.optimizer):
            active = _active(trainee, spec.device)
    return losses


def _active(trainee: Trainee, device: torch.device) -> Tensor:
    return torch.tensor([m.error is None for m in trainee.members], device=device)


def _stop_nonfinite(trainee: Trainee, losses: Tensor, epoch: int, steps: int, world: dd.World,
                    optimizer: torch.optim.Optimizer) -> bool:
    """The one non-finite rule: a member whose loss became NaN or inf stops, told where and what was kept."""
    finite = torch.isfinite(losses)  # [N, steps]
    bad = (~finite.all(dim=1)).to(torch.float32)
    if world.is_distributed:
        bad = dd.all_mean(bad, world)
    stopped = False
    for i, is_bad in enumerate(bad.tolist()):  # one host sync
        m = trainee.members[i]
        if is_bad == 0 or m.error is not None:
            continue
        local_bad = (~finite[i]).nonzero()
        first = int(local_bad[0, 0]) + 1 if len(local_bad) else None
        where = f"epoch {epoch}, step {first} of {steps}" if first else f"epoch {epoch} (on another rank)"
        value = losses[i, first - 1].item() if first else float("nan")
        path = None if m.out_dir is None else m.out_dir / ckpt.CHECKPOINT_NAME
        kept = (f"the last good checkpoint {path} was kept" if path is not None and path.exists()
                else "no checkpoint had been written yet")
        message = (f"the training loss became {value} at {where}; training stopped and {kept}. "
                   "Lower the learning rate, or check the teacher and the input data for NaN/inf.")
        m.error = message
        stopped = True
        trainee.stop(i, message, optimizer)
    return stopped


def _save(trainee: Trainee, state: LoopState, spec: LoopSpec) -> None:
    """The trainee's own state, then each member still training in the single-run checkpoint format."""
    world = spec.world
    trainee.save(state, spec)
    if all(m.out_dir is None for m in trainee.members):
        return
    # Each rank draws its own augmentations: rank 0 keeps every rank's generator states.
    per_rank = dd.gather_objects([ckpt.generator_states({**state.groups[m.group], **m.streams})
                                  for m in trainee.members], world)
    rng = dd.gather_objects(ckpt.rng_states(spec.device), world)
    if world.is_main:
        optimizer = state.optimizer.state_dict()
        for i, m in enumerate(trainee.members):
            if m.out_dir is None or m.error is not None:
                continue
            run = ckpt.run_state(
                m.config, state.epoch, trainee.member_state(i), trainee.member_optimizer_state(i, optimizer),
                state.scheduler.state_dict(), generators=[r[i] for r in per_rank],
                torch_rng=[r[0] for r in rng], cuda_rng=[r[1] for r in rng] if spec.device.type == "cuda" else None,
                records=m.curve, elapsed=state.elapsed,
                method=None if trainee.method is None else trainee.method.state_dict())
            ckpt.save_atomic(run, m.out_dir / ckpt.CHECKPOINT_NAME)
    dd.barrier(world)


def results(trainee: Trainee, world: dd.World, finish: Callable[[Member], dict[str, Any]]) -> list[TrainResult]:
    """Each member's result: ``finish(member)`` is its final record; a stopped member's result says why."""
    out = []
    for i, m in enumerate(trainee.members):
        if m.error is not None:
            out.append(_failed(trainee, i))
            continue
        final = finish(m) if world.is_main else None
        if world.is_main and m.out_dir is not None:
            write_records(m.out_dir, m.curve, final)
        final = dd.broadcast_object(final, world)
        curve = dd.broadcast_object(m.curve, world)
        out.append(TrainResult(record=final, curve=curve, model=trainee.member_model(i).eval(), out_dir=m.out_dir,
                               run_id=final.get("run_id")))
    return out


def summary(m: Member) -> dict[str, Any]:
    """What a final record is built from: the curve, the last and best epochs, the training time."""
    return {"curve": m.curve, "last": m.curve[-1], "best": best_of(m.curve),
            "elapsed_s": sum(row["wall_s"] for row in m.curve)}


def _failed(trainee: Trainee, i: int) -> TrainResult:
    m = trainee.members[i]
    model = trainee.member_model(i)
    kept = None if m.out_dir is None else m.out_dir / ckpt.CHECKPOINT_NAME
    if kept is not None and kept.exists():
        model.load_state_dict(ckpt.load(kept)["model"])
    record = {**{k: m.config[k] for k in ("teacher", "student", "dataset", "scheme", "seed", "epochs")},
              "status": "failed", "error": m.error, "config": m.config}
    return TrainResult(record=record, curve=m.curve, model=model.eval(), out_dir=m.out_dir, extra={"error": m.error})
