"""Cohort training: the students of one teacher/student pair, every (scheme, seed), trained at once.

The members differ only in scheme and seed, so they are trained as one horizontally fused network
(:mod:`dastat.train.fusion`): one grouped forward, backward and SGD step per batch for all of them.
Members sharing a seed share the image order and the standard crop+flip x (common random numbers, as
the probe does), so the teacher scores each x once; every member adds its own x'. Each member draws
from the generators :func:`dastat.train.distill` would give it, so its result is that run's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat.checks import check_float, check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import ConfigError, InvalidArgumentError
from dastat.rng import stream
from dastat.train import checkpoint as ckpt
from dastat.train import inputs
from dastat.train.distill import final_record, run_config, save_student, scheme_of, scorer_for
from dastat.train.evaluate import evaluate_members
from dastat.train.fusion import FusedClassifier
from dastat.train.loss import kd_loss
from dastat.train.result import TrainResult, best_of, write_records
from dastat.train.schedule import default_lr, make_optimizer, make_scheduler, milestones_for

COHORT_CHECKPOINT = "cohort.pt"
COHORT_FORMAT = "dastat-cohort-checkpoint/1"
METHODS = ("kd",)
_CHECK_EVERY = 50  # steps between finiteness checks (one host sync each), as a single run


@dataclass
class _Member:
    scheme: Any
    seed: int
    group: int  # index of the seed group: members of one seed share order, x and the teacher's x logits
    config: dict[str, Any]
    out_dir: Path | None
    scorer: Any = None
    view: nn.Module | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    streams: dict[str, torch.Generator] = field(default_factory=dict)


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


class CohortBar:
    """One tqdm bar for a cohort: epochs done, members training and failed, aggregate img/s.

    Call it with each :class:`CohortProgress` (it is an ``on_epoch`` callback) and :meth:`close` it at the
    end; ``position`` stacks the bars of cohorts that train side by side.
    """

    def __init__(self, members: Sequence[str], epochs: int, *, initial: int = 0, position: int | None = None):
        from tqdm.auto import tqdm

        shown = ", ".join(members[:3]) + (f", ... (+{len(members) - 3})" if len(members) > 3 else "")
        self.bar = tqdm(total=epochs, initial=initial, unit="epoch", dynamic_ncols=True, position=position,
                        desc=f"cohort of {len(members)} [{shown}]")

    def __call__(self, report: CohortProgress) -> None:
        self.bar.set_postfix(members=f"{report.active}/{len(report.members)}", failed=len(report.failed),
                             img_s=f"{report.images_per_s:.0f}")
        self.bar.update(report.epoch - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def distill_cohort(
    teacher: nn.Module,
    student: str | nn.Module,
    train_set: ImageTensorDataset,
    test_set: ImageTensorDataset,
    runs: Sequence[tuple[Any, int]],
    *,
    method: str = "kd",
    epochs: int | None = None,
    epoch_factor: float = 1,
    lr: float | None = None,
    batch_size: int = 64,
    device: str = "auto",
    amp: bool = False,
    channels_last: bool | None = None,
    compile: bool = False,
    out_dirs: Sequence[str | Path] | None = None,
    cohort_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    progress: bool = False,
    position: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[CohortProgress], None] | None = None,
) -> list[TrainResult]:
    """Distil ``teacher`` into one student per ``(scheme, seed)`` of ``runs``, all in one process.

    Member i's result is what ``distill(teacher, student, train_set, test_set, scheme_i, seed=seed_i,
    out_dir=out_dirs[i], ...)`` returns: the same records, final record, store row and run directory
    (``records.jsonl``, ``student.pt``, ``checkpoint.pt``): on the CPU the same computation (each
    member's convolutions are its own kernels; bit for bit in the digits tests), up to float rounding on
    CUDA (grouped kernels add in another order). Other members' schemes and seeds do not change a
    member's result.

    Parameters
    ----------
    teacher, student, train_set, test_set
        As :func:`dastat.train.distill`; ``student`` is one architecture for every member (a zoo name,
        initial weights from each member's seed, or a network copied for each member).
    runs : sequence of (scheme, seed)
        The members, in the order the results come back.
    method : {"kd"}
        The distillation loss (the paper's recipe).
    out_dirs : sequence of paths, optional
        One run directory per member (as ``distill``'s ``out_dir``).
    cohort_dir : path, optional
        Where the cohort's own checkpoint (``cohort.pt``, every member's state) is written; default a
        ``cohort-<hash>`` folder beside the first member's directory.
    epochs, epoch_factor, lr, batch_size, device, amp, channels_last, compile, checkpoint_every, resume,
    progress, on_step
        As :func:`dastat.train.distill` (``progress``: one :class:`CohortBar` for the cohort).
    position : int, optional
        The terminal line of that bar (cohorts that train side by side stack their bars).
    on_epoch : callable, optional
        Called with a :class:`CohortProgress` after every epoch (a caller's own bar, e.g. a
        :class:`CohortBar` placed among others).

    Returns
    -------
    list of TrainResult
        One per member. A member whose loss became NaN or infinite stops there: its result has
        ``extra["error"]`` (the message ``distill`` would raise), the curve up to its last good epoch
        and ``record["status"] == "failed"``; its run directory keeps its last good checkpoint.

    Raises
    ------
    InvalidArgumentError
        Empty ``runs``, a repeated (scheme, seed), ``out_dirs`` of another length, an unknown method,
        a student architecture that cannot be fused, or the arguments ``distill`` refuses.
    ConfigError
        The cohort directory holds another cohort (without ``resume``) or a different configuration.
    """
    train_set, test_set = inputs.check_datasets(train_set, test_set)
    if not isinstance(teacher, nn.Module):
        raise InvalidArgumentError(
            f"teacher must be a torch.nn.Module (dastat.models.load_teacher); got {type(teacher).__name__}"
        )
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)} in a cohort; got {method!r}. "
                                   "Train other methods with dastat.train.distill.")
    runs = _check_runs(runs)
    epochs, epoch_factor = inputs.resolve_epochs(epochs, epoch_factor)
    batch_size = check_int(batch_size, "batch_size", low=1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=1)
    if out_dirs is not None:
        out_dirs = [Path(d) for d in out_dirs]
        if len(out_dirs) != len(runs):
            raise InvalidArgumentError(f"out_dirs must give one directory per run: {len(runs)} runs, "
                                       f"{len(out_dirs)} directories")
    inputs.check_classes(teacher, train_set, "teacher")
    from dastat import distributed as dd

    if dd.detect_world().is_distributed:
        raise InvalidArgumentError("cohorts train in one process; under torchrun use dastat.train.distill")

    dev = resolve_device(device)
    channels_last = dev.type == "cuda" if channels_last is None else bool(channels_last)
    teacher = teacher.to(dev).eval()
    if channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)
    train_set, test_set = train_set.to(dev), test_set.to(dev)
    models_ = []
    for _, seed in runs:
        model = (inputs.as_classifier(student, train_set, seed=seed, role="student") if isinstance(student, str)
                 else copy.deepcopy(inputs.as_classifier(student, train_set, seed=seed, role="student")))
        inputs.check_classes(model, train_set, "student")
        models_.append(model.to(dev))
    lr = default_lr(models_[0].arch) if lr is None else check_float(lr, "lr", low=0, low_open=True)
    seeds = list(dict.fromkeys(seed for _, seed in runs))
    members = []
    for i, ((scheme, seed), model) in enumerate(zip(runs, models_)):
        aug = scheme_of(scheme, train_set, teacher)
        config = run_config(teacher, model, train_set, test_set, aug, seed=seed, epochs=epochs,
                            epoch_factor=epoch_factor, lr=lr, batch_size=batch_size, amp=amp,
                            channels_last=channels_last, compile=compile, world_size=1)
        members.append(_Member(aug, seed, seeds.index(seed), config, None if out_dirs is None else out_dirs[i],
                               streams={"scheme": stream(seed, "scheme", dev)}))

    fused = FusedClassifier(models_)
    fused.check(train_set.images[: min(4, len(train_set))], models_)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
        fused.channels_last = True
    for i, m in enumerate(members):
        m.view = fused.member(i)
        m.scorer = scorer_for(m.scheme, teacher, m.view)
    trainer = _Trainer(fused, members, teacher, train_set, test_set, seeds=seeds, epochs=epochs, lr=lr,
                       batch_size=batch_size, device=dev, amp=bool(amp), compile=bool(compile),
                       cohort_dir=_cohort_dir(cohort_dir, out_dirs, members), checkpoint_every=checkpoint_every,
                       progress=progress, position=position, on_step=on_step, on_epoch=on_epoch)
    trainer.prepare(resume)
    trainer.run()
    return trainer.results()


def fit_cohort_size(teacher: nn.Module, student: str | nn.Module, train_set: ImageTensorDataset, wanted: int, *,
                    device: str = "auto", batch_size: int = 64, amp: bool = False, fraction: float = 0.8) -> int:
    """How many members of a cohort fit the device's free memory, measured; all ``wanted`` on the CPU.

    On CUDA, one training step (teacher forward, the fused student's forward and backward, SGD step) is
    run for cohorts of one and two members; the difference of their peak memory is one member's cost,
    and ``fraction`` of the free memory, less what one member and the data need, is shared out at that
    cost.
    """
    wanted = check_int(wanted, "wanted", low=1)
    dev = resolve_device(device)
    if dev.type != "cuda" or wanted == 1:
        return wanted
    teacher = teacher.to(dev).eval()
    size = train_set.image_size
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randint(0, 256, (batch_size, 3, size, size), generator=g, device=dev, dtype=torch.uint8)
    labels = torch.randint(0, train_set.num_classes, (batch_size,), generator=g, device=dev)
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        models_ = [inputs.as_classifier(student, train_set, seed=i, role="student").to(dev) for i in range(k)]
        fused = FusedClassifier(models_)
        fused.channels_last = True
        fused = fused.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(fused.parameters(), 0.01)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            with torch.inference_mode():
                logits_t = teacher(torch.cat([x] * (k + 1))).clone()
            logits_s = fused([x] * k), fused([x] * k)
            loss = sum(kd_loss(logits_s[0][i], logits_t[:batch_size], labels, logits_s[1][i], logits_t[:batch_size])
                       for i in range(k))
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize(dev)
        peaks.append(torch.cuda.max_memory_allocated(dev) - base)
        del models_, fused, optimizer, logits_t, logits_s, loss
    per_member = max(1, peaks[1] - peaks[0])
    data_bytes = 0 if train_set.device == dev else train_set.images.numel() + 8 * len(train_set)
    torch.cuda.empty_cache()
    free = torch.cuda.mem_get_info(dev)[0] * fraction - data_bytes - (peaks[0] - per_member)
    return max(1, min(wanted, int(free // per_member)))


def _check_runs(runs: Any) -> list[tuple[Any, int]]:
    try:
        runs = [(scheme, check_int(seed, "seed", low=0)) for scheme, seed in runs]
    except (TypeError, ValueError) as err:
        if isinstance(err, InvalidArgumentError):
            raise
        raise InvalidArgumentError(f"runs must be a sequence of (scheme, seed) pairs; got {runs!r}") from err
    if not runs:
        raise InvalidArgumentError("runs must hold at least one (scheme, seed) pair")
    keys = [(getattr(s, "name", s), seed) for s, seed in runs]
    repeated = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    if repeated:
        raise InvalidArgumentError(f"runs repeats {repeated}: each (scheme, seed) is one student")
    return runs


def _cohort_dir(cohort_dir: str | Path | None, out_dirs: list[Path] | None, members: list[_Member]) -> Path | None:
    if cohort_dir is not None:
        return Path(cohort_dir)
    if out_dirs is None:
        return None
    key = json.dumps([str(d.resolve()) for d in out_dirs])
    return out_dirs[0].parent / f"cohort-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class _Trainer:
    """The epoch loop of a cohort (the cohort counterpart of ``dastat.train.loop.run_loop``)."""

    def __init__(self, fused: FusedClassifier, members: list[_Member], teacher: nn.Module,
                 train_set: ImageTensorDataset, test_set: ImageTensorDataset, *, seeds: list[int], epochs: int,
                 lr: float, batch_size: int, device: torch.device, amp: bool, compile: bool,
                 cohort_dir: Path | None, checkpoint_every: int, progress: bool, position: int | None,
                 on_step: Callable[[int, int], None] | None, on_epoch: Callable[[CohortProgress], None] | None):
        self.fused, self.members, self.teacher = fused, members, teacher
        self.train_set, self.test_set, self.seeds = train_set, test_set, seeds
        self.epochs, self.batch_size, self.device, self.amp = epochs, batch_size, device, amp
        self.cohort_dir, self.checkpoint_every = cohort_dir, checkpoint_every
        self.progress, self.position, self.on_step, self.on_epoch = progress, position, on_step, on_epoch
        self.optimizer = make_optimizer(fused.parameters(), lr)
        self.scheduler = make_scheduler(self.optimizer, milestones_for(epochs))
        self.train_model = torch.compile(fused) if compile else fused
        self.augment = inputs.standard_augment(train_set.image_size)
        # One order and base stream per seed: the ones distill would create for that seed.
        self.group_streams = [{"order": stream(s, "order", device), "base": stream(s, "base", device)} for s in seeds]
        self.start_epoch, self.elapsed = 0, 0.0
        self.images_per_s = 0.0

    # -- state ------------------------------------------------------------------------------------------
    def _path(self) -> Path | None:
        return None if self.cohort_dir is None else self.cohort_dir / COHORT_CHECKPOINT

    def prepare(self, resume: bool) -> None:
        path = self._path()
        if path is None:
            return
        self.cohort_dir.mkdir(parents=True, exist_ok=True)
        for m in self.members:
            if m.out_dir is not None:
                m.out_dir.mkdir(parents=True, exist_ok=True)
                if (m.out_dir / ckpt.CHECKPOINT_NAME).exists() and not resume:
                    raise ConfigError(f"{m.out_dir} already holds a training run ({ckpt.CHECKPOINT_NAME}); pass "
                                      "--resume (resume=True) to continue it, or choose another --out directory.")
        if not path.exists():
            return
        if not resume:
            raise ConfigError(f"{self.cohort_dir} already holds a cohort ({COHORT_CHECKPOINT}); pass --resume "
                              "(resume=True) to continue it, or choose other directories.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != COHORT_FORMAT:
            raise ConfigError(f"{path} is not a dastat cohort checkpoint (expected format {COHORT_FORMAT!r}).")
        saved = state["configs"]
        if len(saved) != len(self.members):
            raise ConfigError(f"cannot resume in {self.cohort_dir}: it holds a cohort of {len(saved)} members, "
                              f"not {len(self.members)}. Use the same runs, or another cohort directory.")
        for old, m in zip(saved, self.members):
            ckpt.check_same_config(old, m.config, self.cohort_dir)
        self.fused.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for gens, states in zip(self.group_streams, state["group_streams"]):
            ckpt.restore_generators(gens, states)
        for m, states, curve, error in zip(self.members, state["member_streams"], state["records"], state["errors"]):
            ckpt.restore_generators(m.streams, states)
            m.curve, m.error = list(curve), error
            if m.out_dir is not None:
                write_records(m.out_dir, m.curve)
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.start_epoch, self.elapsed = int(state["epoch"]), float(state["elapsed_s"])

    def _save(self, epoch: int) -> None:
        path = self._path()
        if path is None:
            return
        state = {
            "format": COHORT_FORMAT,
            "configs": [m.config for m in self.members],
            "epoch": epoch,
            "model": self.fused.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "group_streams": [ckpt.generator_states(g) for g in self.group_streams],
            "member_streams": [ckpt.generator_states(m.streams) for m in self.members],
            "records": [m.curve for m in self.members],
            "errors": [m.error for m in self.members],
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "elapsed_s": self.elapsed,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        ckpt.save_atomic(state, path)
        for i, m in enumerate(self.members):
            if m.out_dir is not None and m.error is None:
                ckpt.save_atomic(self._member_checkpoint(i, epoch), m.out_dir / ckpt.CHECKPOINT_NAME)

    def _member_checkpoint(self, i: int, epoch: int) -> dict[str, Any]:
        """Member i's state in the single-run checkpoint format (what its own ``distill`` run would save)."""
        m, n = self.members[i], self.fused.n
        opt = self.optimizer.state_dict()
        member_opt = {"param_groups": opt["param_groups"], "state": {
            k: {name: v.unflatten(0, (n, -1))[i].clone() if torch.is_tensor(v) and v.dim() else v
                for name, v in state.items()}
            for k, state in opt["state"].items()}}
        gens = {**self.group_streams[m.group], **m.streams}
        return {
            "format": ckpt.FORMAT, "config": m.config, "epoch": epoch, "model": self.fused.member_state(i),
            "optimizer": member_opt, "scheduler": self.scheduler.state_dict(),
            "generators": [ckpt.generator_states(gens)], "torch_rng": [torch.get_rng_state()],
            "cuda_rng": ([torch.cuda.get_rng_state(self.device)] if self.device.type == "cuda" else None),
            "records": m.curve, "best": best_of(m.curve) if m.curve else {}, "elapsed_s": self.elapsed,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    # -- training ---------------------------------------------------------------------------------------
    def _autocast(self):
        import contextlib

        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def _step(self, index: list[Tensor]) -> Tensor:
        """One optimiser step of every member; returns the members' losses ``[N]``."""
        xs = [self.augment(self.train_set.images[idx], generator=g["base"])
              for idx, g in zip(index, self.group_streams)]
        labels = [self.train_set.labels[idx] for idx in index]
        with self._autocast():
            x_primes = []
            for m in self.members:
                x = xs[m.group]
                if len(x) >= getattr(m.scheme, "min_batch", 1):
                    with torch.no_grad():
                        x_primes.append(m.scheme(x, generator=m.streams["scheme"], scorer=m.scorer))
                else:
                    x_primes.append(x)  # a lone last image cannot be mixed with a partner
            sizes = {len(xp) for xp in x_primes}
            if len(sizes) > 1:
                raise InvalidArgumentError(f"the members' schemes made x' batches of sizes {sorted(sizes)} from one "
                                           "batch; train schemes that keep a fixed count alone (cohort size 1)")
            with torch.inference_mode():
                logits_t = self.teacher(torch.cat([*xs, *x_primes]))  # [G*B + N*B', C]
            # Inference tensors cannot be saved for backward: clone outside inference mode.
            logits_t = logits_t.clone()
            b, bp, g = len(xs[0]), len(x_primes[0]), len(xs)
            logits_s_x = self.train_model([xs[m.group] for m in self.members])  # [N, B, C]
            logits_s_xp = self.train_model(x_primes)  # [N, B', C]
            losses = []
            for i, m in enumerate(self.members):
                t_x = logits_t[m.group * b:(m.group + 1) * b]
                t_xp = logits_t[g * b + i * bp:g * b + (i + 1) * bp]
                losses.append(kd_loss(logits_s_x[i], t_x, labels[m.group], logits_s_xp[i], t_xp))
            losses = torch.stack(losses)  # [N]
        active = torch.tensor([m.error is None for m in self.members], device=losses.device)
        total = torch.where(active, losses, torch.zeros_like(losses)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return losses.detach()

    def _check_finite(self, losses: Tensor, epoch: int, steps: int) -> None:
        """Stop every member whose loss is not finite: report it and silence its slice of the network."""
        finite = torch.isfinite(losses).all(dim=1).tolist()  # one host sync
        for i, (m, ok) in enumerate(zip(self.members, finite)):
            if ok or m.error is not None:
                continue
            first = int((~torch.isfinite(losses[i])).nonzero()[0, 0]) + 1
            kept = (f"the last good checkpoint {m.out_dir / ckpt.CHECKPOINT_NAME} was kept"
                    if m.out_dir is not None and (m.out_dir / ckpt.CHECKPOINT_NAME).exists()
                    else "no checkpoint had been written yet")
            m.error = (f"the training loss became {losses[i, first - 1].item()} at epoch {epoch}, step {first} of "
                       f"{steps}; training stopped and {kept}. Lower the learning rate, or check the teacher and the "
                       "input data for NaN/inf.")
            self._silence(i)

    def _silence(self, i: int) -> None:
        # A stopped member's slice is zeroed (weights, running statistics, momentum) so that no NaN stays in
        # the fused tensors; the others never read it (grouped layers), and its own result is already final.
        with torch.no_grad():
            for tensor in [*self.fused.net.parameters(), *self.fused.net.buffers()]:
                if tensor.dim():
                    tensor.unflatten(0, (self.fused.n, -1))[i].zero_()
            for state in self.optimizer.state.values():
                buf = state.get("momentum_buffer")
                if buf is not None:
                    buf.unflatten(0, (self.fused.n, -1))[i].zero_()

    def run(self) -> None:
        n_train, members = len(self.train_set), self.members
        names = tuple(f"{getattr(m.scheme, 'name', m.scheme)}:s{m.seed}" for m in members)
        bar = CohortBar(names, self.epochs, initial=self.start_epoch, position=self.position) if self.progress else None
        for epoch in range(self.start_epoch + 1, self.epochs + 1):
            if all(m.error is not None for m in members):
                break
            t0 = time.perf_counter()
            self.fused.train()
            orders = [torch.randperm(n_train, generator=g["order"], device=g["order"].device).to(self.train_set.device)
                      for g in self.group_streams]
            batches = list(zip(*[o.split(self.batch_size) for o in orders]))
            losses = torch.zeros(len(members), len(batches), device=self.device)  # [N, steps]
            lr_epoch = self.optimizer.param_groups[0]["lr"]
            for step, index in enumerate(batches, start=1):
                losses[:, step - 1] = self._step(list(index))
                if self.on_step is not None:
                    self.on_step(epoch, step)
                if step % _CHECK_EVERY == 0 or step == len(batches):
                    self._check_finite(losses[:, :step], epoch, len(batches))
            self.scheduler.step()
            train_wall = time.perf_counter() - t0
            metrics = evaluate_members(self.fused, self.test_set, self.fused.n, amp=self.amp)
            for i, m in enumerate(members):
                if m.error is None:
                    m.curve.append({"epoch": epoch, **metrics[i], "train_loss": losses[i].mean().item(),
                                    "lr": lr_epoch})
            wall = time.perf_counter() - t0
            self.elapsed += wall
            active = [m for m in members if m.error is None]
            for m in active:
                m.curve[-1]["wall_s"] = wall / len(members)
                if m.out_dir is not None:
                    write_records(m.out_dir, m.curve)
            self.images_per_s = len(active) * n_train / train_wall
            report = CohortProgress(epoch, self.epochs, names, tuple(n for n, m in zip(names, members) if m.error),
                                    self.images_per_s)
            for callback in (bar, self.on_epoch):
                if callback is not None:
                    callback(report)
            if epoch % self.checkpoint_every == 0 or epoch == self.epochs:
                self._save(epoch)
        if bar is not None:
            bar.close()
        self.fused.eval()

    def results(self) -> list[TrainResult]:
        out = []
        for i, m in enumerate(self.members):
            model = self.fused.blank(i)
            if m.error is not None:
                kept = None if m.out_dir is None else m.out_dir / ckpt.CHECKPOINT_NAME
                if kept is not None and kept.exists():
                    model.load_state_dict(ckpt.load(kept)["model"])
                record = {**{k: m.config[k] for k in ("teacher", "student", "dataset", "scheme", "seed", "epochs")},
                          "status": "failed", "error": m.error, "config": m.config}
                out.append(TrainResult(record=record, curve=m.curve, model=model.eval(), out_dir=m.out_dir,
                                       extra={"error": m.error}))
                continue
            model.load_state_dict(self.fused.member_state(i))
            model.eval()
            summary = {"curve": m.curve, "last": m.curve[-1], "best": best_of(m.curve),
                       "elapsed_s": sum(row["wall_s"] for row in m.curve)}
            final = final_record(m.config, m.out_dir, summary, randomness=getattr(m.scheme, "randomness", None))
            if m.out_dir is not None:
                write_records(m.out_dir, m.curve, final)
                save_student(model, m.out_dir, final)
            result = TrainResult(record=final, curve=m.curve, model=model, out_dir=m.out_dir,
                                 run_id=final["run_id"])
            out.append(result)
        return out
