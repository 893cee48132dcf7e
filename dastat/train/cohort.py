"""Cohort training: the students of one teacher/student pair, every (scheme, seed), trained at once.

The members differ only in scheme and seed, so they are trained as one horizontally fused network
(:mod:`dastat.train.fusion`): one grouped forward, backward and SGD step per batch for all of them, in
the loop and with the step of a single run (:mod:`dastat.train.loop`, :mod:`dastat.train.step`).
Members sharing a seed share the image order and the standard crop+flip x (common random numbers, as
the probe does), so the teacher scores each x once; every member adds its own x'. Each member draws
from the generators :func:`dastat.train.distill` would give it, so its result is that run's.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat import distributed as dd
from dastat.checks import check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import autocast, resolve_device
from dastat.errors import ConfigError, InvalidArgumentError
from dastat.train import checkpoint as ckpt
from dastat.train import inputs
from dastat.train.distill import (
    check_teacher,
    finish_run,
    loop_spec,
    place_teacher,
    run_config,
    save_student,
    scheme_of,
    scorer_for,
)
from dastat.train.evaluate import evaluate_members
from dastat.train.fusion import FusedClassifier
from dastat.train.loop import CohortProgress, LoopSpec, LoopState, Member, Trainee, results, run_loop
from dastat.train.recipe import Recipe
from dastat.train.result import TrainResult
from dastat.train.schedule import make_optimizer
from dastat.train.step import kd_step

COHORT_CHECKPOINT = "cohort.pt"
COHORT_FORMAT = "dastat-cohort-checkpoint/1"
METHODS = ("kd",)


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
    recipe: Recipe | None = None,
    device: str = "auto",
    out_dirs: Sequence[str | Path] | None = None,
    cohort_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    test_from: int = 1,
    resume: bool = False,
    progress: bool = False,
    position: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[CohortProgress], None] | None = None,
    **settings: Any,
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
    recipe, **settings
        As :func:`dastat.train.distill`; the method must be plain ``kd`` (the paper's recipe).
    out_dirs : sequence of paths, optional
        One run directory per member (as ``distill``'s ``out_dir``).
    cohort_dir : path, optional
        Where the cohort's own checkpoint (``cohort.pt``, every member's state) is written; default a
        ``cohort-<hash>`` folder beside the first member's directory.
    device, checkpoint_every, test_from, resume, progress, position, on_step
        As :func:`dastat.train.distill` (``progress``: one :class:`CohortBar` for the cohort, on terminal
        line ``position``: cohorts that train side by side stack their bars).
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
        Empty ``runs``, a repeated (scheme, seed), ``out_dirs`` of another length, a method other than
        kd, a student architecture that cannot be fused, or the arguments ``distill`` refuses.
    ConfigError
        The cohort directory holds another cohort (without ``resume``) or a different configuration.
    """
    recipe = Recipe.of(recipe, **settings)
    train_set, test_set = inputs.check_datasets(train_set, test_set)
    check_teacher(teacher, train_set)
    if recipe.method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)} in a cohort; got {recipe.method!r}. "
                                   "Train other methods with dastat.train.distill.")
    runs = _check_runs(runs)
    out_dirs = _check_out_dirs(out_dirs, runs)
    if dd.detect_world().is_distributed:
        raise InvalidArgumentError("cohorts train in one process; under torchrun use dastat.train.distill")

    dev = resolve_device(device)
    channels_last = recipe.channels_last_on(dev)
    teacher = place_teacher(teacher, dev, channels_last)
    train_set, test_set = train_set.to(dev), test_set.to(dev)
    students = [_student(student, train_set, seed).to(dev) for _, seed in runs]
    lr = recipe.lr_for(students[0].arch)
    members = []
    for (scheme, seed), model, out_dir in zip(runs, students, out_dirs):
        aug = scheme_of(scheme, train_set, teacher)
        config = run_config(teacher, model, train_set, test_set, aug, recipe, seed=seed, lr=lr,
                            channels_last=channels_last, world_size=1)
        members.append(Member(seed, config, out_dir, aug))
    cohort = Cohort(_fuse(students, train_set, channels_last), members, _cohort_dir(cohort_dir, out_dirs),
                    position=position)
    for i, m in enumerate(members):
        m.scorer = scorer_for(m.scheme, teacher, cohort.model.member(i))
    spec = loop_spec(recipe, lr, dev, train_set.image_size, extra_streams=("scheme",), resume=resume,
                     checkpoint_every=checkpoint_every, test_from=test_from, progress=progress, on_step=on_step,
                     on_epoch=on_epoch)
    run_loop(cohort, train_set, test_set, spec, kd_step(teacher, members, cohort.forward, weights=recipe.weights))
    out = results(cohort, dd.World(), finish_run)
    for result, m in zip(out, members):
        if m.error is None and m.out_dir is not None:
            save_student(result.model, m.out_dir, result.record)
    return out


def _student(student: str | nn.Module, train_set: ImageTensorDataset, seed: int) -> nn.Module:
    model = inputs.as_classifier(student, train_set, seed=seed, role="student")
    model = model if isinstance(student, str) else copy.deepcopy(model)
    inputs.check_classes(model, train_set, "student")
    return model


def _fuse(students: list[nn.Module], train_set: ImageTensorDataset, channels_last: bool) -> FusedClassifier:
    fused = FusedClassifier(students)
    fused.check(train_set.images[: min(4, len(train_set))], students)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
        fused.channels_last = True
    return fused


class Cohort(Trainee):
    """A cohort in the loop: the members' networks fused into one (member i is slice i of every tensor).

    Its own checkpoint (``cohort.pt`` in ``cohort_dir``) holds every member's state; each member's run
    directory gets the checkpoint its run alone would write.
    """

    model: FusedClassifier

    def __init__(self, fused: FusedClassifier, members: list[Member], cohort_dir: Path | None, *,
                 position: int | None = None):
        super().__init__(fused, members)
        self.cohort_dir, self.position = cohort_dir, position

    def forward(self, train_model: nn.Module, batches: list[Tensor], **kwargs: Any) -> Tensor:
        return train_model(batches)  # [N, B, C]

    def evaluate(self, test_set: ImageTensorDataset, amp: bool) -> list[dict[str, float]]:
        return evaluate_members(self.model, test_set, self.n, amp=amp)

    def stop(self, i: int, message: str, optimizer: torch.optim.Optimizer) -> None:
        """Member i stops alone: its slice is zeroed (weights, running statistics, momentum), so that no NaN
        stays in the fused tensors; the others never read it (grouped layers), and its result is final."""
        with torch.no_grad():
            for tensor in [*self.model.net.parameters(), *self.model.net.buffers()]:
                if tensor.dim():
                    tensor.unflatten(0, (self.n, -1))[i].zero_()
            for state in optimizer.state.values():
                buf = state.get("momentum_buffer")
                if buf is not None:
                    buf.unflatten(0, (self.n, -1))[i].zero_()

    def member_model(self, i: int) -> nn.Module:
        model = self.model.blank(i)
        if self.members[i].error is None:
            model.load_state_dict(self.model.member_state(i))
        return model

    def member_state(self, i: int) -> dict[str, Tensor]:
        return self.model.member_state(i)

    def member_optimizer_state(self, i: int, state: dict[str, Any]) -> dict[str, Any]:
        """Member i's slice of the optimiser's state (what its own run's optimiser holds)."""
        return {"param_groups": state["param_groups"], "state": {
            k: {name: v.unflatten(0, (self.n, -1))[i].clone() if torch.is_tensor(v) and v.dim() else v
                for name, v in param.items()}
            for k, param in state["state"].items()}}

    def _path(self) -> Path | None:
        return None if self.cohort_dir is None else self.cohort_dir / COHORT_CHECKPOINT

    def load(self, state: LoopState, spec: LoopSpec) -> None:
        path = self._path()
        if path is None or not path.exists():
            return
        if not spec.resume:
            raise ConfigError(f"{self.cohort_dir} already holds a cohort ({COHORT_CHECKPOINT}); pass --resume "
                              "(resume=True) to continue it, or choose other directories.")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("format") != COHORT_FORMAT:
            raise ConfigError(f"{path} is not a dastat cohort checkpoint (expected format {COHORT_FORMAT!r}).")
        if len(saved["configs"]) != self.n:
            raise ConfigError(f"cannot resume in {self.cohort_dir}: it holds a cohort of {len(saved['configs'])} "
                              f"members, not {self.n}. Use the same runs, or another cohort directory.")
        for old, m in zip(saved["configs"], self.members):
            ckpt.check_same_config(old, m.config, self.cohort_dir)
        self.model.net.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.scheduler.load_state_dict(saved["scheduler"])
        for gens, states in zip(state.groups, saved["group_streams"]):
            ckpt.restore_generators(gens, states)
        for m, states, curve, error in zip(self.members, saved["member_streams"], saved["records"], saved["errors"]):
            ckpt.restore_generators(m.streams, states)
            m.curve, m.error = list(curve), error
        ckpt.restore_rng(saved["torch_rng"], saved.get("cuda_rng"), spec.device)
        state.epoch, state.elapsed = int(saved["epoch"]), float(saved["elapsed_s"])

    def save(self, state: LoopState, spec: LoopSpec) -> None:
        path = self._path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        torch_rng, cuda_rng = ckpt.rng_states(spec.device)
        ckpt.save_atomic({
            "format": COHORT_FORMAT,
            "configs": [m.config for m in self.members],
            "epoch": state.epoch,
            "model": self.model.net.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "group_streams": [ckpt.generator_states(g) for g in state.groups],
            "member_streams": [ckpt.generator_states(m.streams) for m in self.members],
            "records": [m.curve for m in self.members],
            "errors": [m.error for m in self.members],
            "torch_rng": torch_rng,
            "cuda_rng": cuda_rng,
            "elapsed_s": state.elapsed,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }, path)

    def progress_bar(self, epochs: int, initial: int) -> CohortBar:
        return CohortBar([m.name for m in self.members], epochs, initial=initial, position=self.position)


def fit_cohort_size(teacher: nn.Module, student: str | nn.Module, train_set: ImageTensorDataset, wanted: int, *,
                    device: str = "auto", batch_size: int = 64, amp: bool = False, fraction: float = 0.8) -> int:
    """How many members of a cohort fit the device's free memory, measured; all ``wanted`` on the CPU.

    On CUDA, one training step (the cohort's KD step: teacher forward, the fused student's forward and
    backward, SGD step) is run for cohorts of one and two members; the difference of their peak memory
    is one member's cost, and ``fraction`` of the free memory, less what one member and the data need, is
    shared out at that cost.
    """
    from dastat import augment

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
        members = [Member(0, {}, scheme=augment.get("identity"), streams={"scheme": g}) for _ in range(k)]
        cohort = Cohort(_fuse([inputs.as_classifier(student, train_set, seed=i, role="student").to(dev)
                               for i in range(k)], train_set, channels_last=True), members, None)
        optimizer = make_optimizer(cohort.parameters(), 0.01)
        step = kd_step(teacher, members, cohort.forward)(cohort.model, [])
        with autocast(dev, amp):
            losses = step([x], [labels], [torch.arange(batch_size, device=dev)])
        losses.sum().backward()
        optimizer.step()
        torch.cuda.synchronize(dev)
        peaks.append(torch.cuda.max_memory_allocated(dev) - base)
        del members, cohort, optimizer, step, losses
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


def _check_out_dirs(out_dirs: Sequence[str | Path] | None, runs: list) -> list[Path | None]:
    if out_dirs is None:
        return [None] * len(runs)
    out_dirs = [Path(d) for d in out_dirs]
    if len(out_dirs) != len(runs):
        raise InvalidArgumentError(f"out_dirs must give one directory per run: {len(runs)} runs, "
                                   f"{len(out_dirs)} directories")
    return out_dirs


def _cohort_dir(cohort_dir: str | Path | None, out_dirs: list[Path | None]) -> Path | None:
    if cohort_dir is not None:
        return Path(cohort_dir)
    if out_dirs[0] is None:
        return None
    key = json.dumps([str(d.resolve()) for d in out_dirs])
    return out_dirs[0].parent / f"cohort-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
