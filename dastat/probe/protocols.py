"""The two probe protocols (docs/method.md, "Protocols") and what they share: checks, schemes, stopping rules."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dastat import augment
from dastat.checks import check_choice, check_class_count, check_float, check_int
from dastat.constants import PROTOCOLS, RANDOMNESS
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import DastatError, InvalidArgumentError
from dastat.probe import engine, estimator
from dastat.probe import stream as stream_mod
from dastat.probe.estimator import stddev_of_means

# Sets' worth of images below which a within-epoch set fixes its label composition (docs/method.md, "Protocols").
POOL_SETS = 20


@dataclass(frozen=True)
class Settings:
    """Everything that decides which units a probe closes and when it stops.

    A unit is what the estimator treats as independent: a batch in protocol ``fast`` (each batch
    draws its images independently from the pool), a whole set in ``paper`` (the epoch stream).
    ``max_sets``, ``min_sets`` and ``check_every`` count sets; the ``*_units`` properties count units.
    """

    protocol: str
    randomness: str
    batch_size: int
    batches_per_set: int
    seed: int
    max_sets: int
    min_sets: int
    check_every: int
    rtol: float
    confidence: float
    amp: bool
    num_images: int

    @property
    def set_size(self) -> int:
        return 2 * self.batch_size * self.batches_per_set

    @property
    def units_per_set(self) -> int:
        return self.batches_per_set if self.protocol == "fast" else 1

    @property
    def batches_per_unit(self) -> int:
        return self.batches_per_set // self.units_per_set

    @property
    def min_units(self) -> int:
        return self.min_sets * self.units_per_set

    @property
    def pool_dependent(self) -> bool:
        """Protocol ``paper`` on a pool of fewer than 20 sets' worth of images: its value depends on the pool."""
        return self.protocol == "paper" and self.num_images < POOL_SETS * self.batch_size * self.batches_per_set

    def stream(self, device: torch.device) -> stream_mod.IndependentDraws | stream_mod.EpochStream:
        """Where the batches' images come from: independent draws (fast) or the epoch stream (paper)."""
        kind = stream_mod.IndependentDraws if self.protocol == "fast" else stream_mod.EpochStream
        return kind(self.num_images, self.batch_size, seed=self.seed, device=device)


def settings(
    protocol: str,
    num_images: int,
    *,
    batch_size: int,
    set_blocks: int,
    epochs: int,
    rtol: float,
    max_sets: int | None,
    min_sets: int,
    check_every: int | None,
    confidence: float,
    randomness: str | None,
    seed: int,
    amp: bool,
) -> Settings:
    """Validate the user's options and fill in each protocol's defaults."""
    protocol = check_choice(protocol, "protocol", PROTOCOLS)
    batch_size = check_int(batch_size, "batch_size", low=1)
    set_blocks = check_int(set_blocks, "set_blocks", low=2)
    if set_blocks % 2:
        raise InvalidArgumentError(f"set_blocks must be even (a block of x, then one of x'); got {set_blocks}")
    batches_per_set = set_blocks // 2
    rtol = check_float(rtol, "rtol", low=0, low_open=True)
    confidence = check_float(confidence, "confidence", low=0, high=1, low_open=True, high_open=True)
    seed = check_int(seed, "seed", low=0)
    min_sets = check_int(min_sets, "min_sets", low=2)
    if protocol == "paper":
        epochs = check_int(epochs, "epochs", low=1)
        # Sets run on across epochs; only complete sets count (the trailing partial one is dropped).
        total = epochs * math.ceil(num_images / batch_size) // batches_per_set
        if total < 2:
            raise InvalidArgumentError(
                f"protocol 'paper' closes only {total} set(s) in {epochs} epoch(s) of {num_images} images; "
                "raise epochs"
            )
        return Settings(protocol, randomness or "batch", batch_size, batches_per_set, seed,
                        total, total, total, rtol, confidence, amp, num_images)
    max_sets = 2000 if max_sets is None else check_int(max_sets, "max_sets", low=2)
    check_every = 8 if check_every is None else check_int(check_every, "check_every", low=1)
    randomness = check_choice(randomness or "sample", "randomness", RANDOMNESS)
    return Settings(protocol, randomness, batch_size, batches_per_set, seed, max_sets,
                    min(min_sets, max_sets), check_every, rtol, confidence, amp, num_images)


def prepare(teacher: nn.Module, dataset: ImageTensorDataset, device: str | torch.device):
    """Move teacher and data to the device and check that they fit each other."""
    dev = resolve_device(device)
    if not isinstance(dataset, ImageTensorDataset):
        hint = ("it is too large for memory and streams from disk: load a class-stratified subsample with "
                "max_images=N (--max-images N; a probe needs a few hundred sets, not the whole set) or call "
                ".materialize()" if hasattr(dataset, "materialize") else "use dastat.data.load()")
        raise InvalidArgumentError(
            f"the probe needs an in-memory ImageTensorDataset; got {type(dataset).__name__}: {hint}"
        )
    check_class_count(getattr(teacher, "num_classes", None), dataset.num_classes, model="the teacher",
                      against=f"dataset {dataset.name!r}", fix="probe a teacher trained on this dataset")
    # channels_last: faster convolutions on CUDA and, through oneDNN, on CPU (1.7x for resnet8 here).
    teacher = teacher.to(dev, memory_format=torch.channels_last).eval()
    dataset = dataset.to(dev)
    try:
        with torch.inference_mode():
            logits = teacher(dataset.images[:2])
    except RuntimeError as err:
        size = dataset.image_size
        raise DastatError(
            f"the teacher cannot take {size}x{size} images from {dataset.name!r}: {str(err).splitlines()[0]}. "
            "Use a dataset (or --image-size) that matches what the teacher was trained on"
        ) from None
    if logits.ndim != 2 or logits.shape[1] != dataset.num_classes:
        raise DastatError(
            f"the teacher returned logits of shape {tuple(logits.shape)}; expected [B, {dataset.num_classes}]"
        )
    return teacher, dataset, dev


def make_job(
    scheme,
    *,
    dataset: ImageTensorDataset,
    teacher: nn.Module,
    student: nn.Module | None,
    cfg: Settings,
    fill: tuple[int, int, int],
) -> engine.Job:
    """A scheme (a name or a ready Scheme) with the network its picking needs."""
    if isinstance(scheme, str):
        obj = augment.get(scheme, image_size=dataset.image_size, randomness=cfg.randomness, fill=fill)
        name = obj.name  # the canonical spelling, before the paper protocol's keep_count joins it
        if obj.scorer is not None and cfg.protocol == "paper":
            # The reference keeps an absolute 64 of each pool (docs/method.md, "Schemes"), i.e. the batch size.
            obj = augment.get(scheme, image_size=dataset.image_size, randomness=cfg.randomness, fill=fill,
                              keep_count=cfg.batch_size)
    else:
        obj, name = scheme, getattr(scheme, "name", type(scheme).__name__)
    return engine.Job(name, obj, augment.scorer_for(obj, teacher, student))


def scheme_params(job: engine.Job) -> dict:
    """The scheme's settings for the record (plain values only)."""
    params = {}
    for key, value in vars(job.scheme).items():
        if not key.startswith("_") and isinstance(value, int | float | str | bool | tuple | type(None)):
            params[key] = list(value) if isinstance(value, tuple) else value
    return params


def rel_halfwidth(means: torch.Tensor, confidence: float) -> float:
    """Relative half-width of the probe's interval on unit means [M, C] (inf below 3 units)."""
    if means.shape[0] < _FEWEST_UNITS:
        return math.inf
    return float(estimator.rel_halfwidth(means.double(), confidence))


_FEWEST_UNITS = 3  # the jackknife interval leaves one unit out of at least 3


def tight(means: torch.Tensor, *, rtol: float, min_sets: int, confidence: float,
          units_per_set: int = 1) -> torch.Tensor:
    """Whether the interval on unit means [..., M, C] is narrow enough to stop, and trustworthy enough to stop on.

    Narrow: relative half-width at most ``rtol``. Trustworthy: at least ``min_sets`` sets' worth of
    units, and the interval's effective degrees of freedom reach ``min_sets - 1``, what Gaussian
    sets reach at ``min_sets`` sets. Skewed or heavy-tailed units make the variance estimate
    noisier, and a rule that stops on a noisy width stops when it happens to be small; such units
    keep sampling until their interval knows as much. Returns a bool tensor [...].
    """
    if means.shape[-2] < max(min_sets * units_per_set, _FEWEST_UNITS):
        return torch.zeros(means.shape[:-2], dtype=torch.bool, device=means.device)
    estimate, low, high, df = estimator.jackknife_interval(means.double(), confidence)
    return (df >= min_sets - 1) & (estimator.relative(estimate, low, high) <= rtol)


def is_tight(means: torch.Tensor, cfg: Settings) -> bool:
    """:func:`tight` for one scheme's unit means [M, C] under the probe's settings."""
    return bool(tight(means, rtol=cfg.rtol, min_sets=cfg.min_sets, confidence=cfg.confidence,
                      units_per_set=cfg.units_per_set))


def unconverged(out: engine.EngineOutput, names: Sequence[str], cfg: Settings) -> set[str]:
    """The schemes whose interval is not yet tight (:func:`is_tight`); all of them while one has too few units."""
    if not names:
        return set()
    if out.counts[names[0]] < max(cfg.min_units, _FEWEST_UNITS):
        return set(names)
    return {n for n in names if not is_tight(out.unit_means(n), cfg)}


def is_tie(ci_low: float, ci_high: float, lower: float, min_diff: float) -> bool:
    """Two schemes are tied when their difference's whole interval lies within ``min_diff`` x ``lower``."""
    return max(abs(ci_low), abs(ci_high)) < min_diff * lower


def unresolved(out: engine.EngineOutput, names: Sequence[str], cfg: Settings, min_diff: float = 0.0) -> set[str]:
    """Schemes of adjacent pairs in the ranking still worth sampling: neither resolved nor tied.

    A pair is resolved when its paired difference is significant, tied when the whole interval of
    the difference lies within ``min_diff`` of the lower scheme's T. stddev (too close to matter),
    and frozen when one of the two is no longer sampled (more sets of the other cannot help).
    """
    ordered = sorted(names, key=lambda n: float(stddev_of_means(out.unit_means(n))))
    latest = max(out.counts[n] for n in names)
    left = set()
    for a, b in itertools.pairwise(ordered):
        if out.counts[a] < latest or out.counts[b] < latest:
            continue  # frozen: one of the two is no longer sampled
        if latest < _FEWEST_UNITS:
            left |= {a, b}
            continue
        ma, mb = out.unit_means(a).double(), out.unit_means(b).double()
        low, high, _ = estimator.paired_bounds(ma, mb, cfg.confidence, cfg.units_per_set)
        low, high = float(low), float(high)
        if low <= 0 <= high and not is_tie(low, high, float(stddev_of_means(ma, cfg.units_per_set)), min_diff):
            left |= {a, b}
    return left
