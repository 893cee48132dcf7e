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
from dastat.constants import PROTOCOLS
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import DastatError, InvalidArgumentError
from dastat.probe import engine, estimator
from dastat.probe.estimator import stddev_of_means


@dataclass(frozen=True)
class Settings:
    """Everything that decides which sets a probe closes and when it stops."""

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
    def design(self) -> estimator.Design:
        """How the sets are drawn, for the interval's within-epoch correction."""
        return estimator.Design(self.num_images, self.batch_size, self.batches_per_set)


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
    randomness = check_choice(randomness or "sample", "randomness", ("sample", "batch"))
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


def rel_halfwidth(means: torch.Tensor, confidence: float, design: estimator.Design | None = None) -> float:
    """Relative half-width of the probe's interval on ``means`` [M, C] (inf below 3 sets)."""
    if means.shape[0] < _FEWEST_SETS:
        return math.inf
    return float(estimator.rel_halfwidth(means.double(), confidence, design))


_FEWEST_SETS = 3  # the jackknife interval leaves one set out of at least 3


def tight(means: torch.Tensor, *, rtol: float, min_sets: int, confidence: float,
          design: estimator.Design | None = None) -> torch.Tensor:
    """Whether the interval on set means [..., M, C] is narrow enough to stop, and trustworthy enough to stop on.

    Narrow: relative half-width at most ``rtol``. Trustworthy: the interval's effective degrees of
    freedom reach ``min_sets - 1``, what Gaussian sets reach at ``min_sets`` sets. Skewed or
    heavy-tailed sets make the variance estimate noisier, and a rule that stops on a noisy width
    stops when it happens to be small; such sets keep sampling until their interval knows as much.
    ``design``: how the sets were drawn (the interval's within-epoch correction). Returns a bool
    tensor [...] (all False below ``max(min_sets, 3)`` sets).
    """
    if means.shape[-2] < max(min_sets, _FEWEST_SETS):
        return torch.zeros(means.shape[:-2], dtype=torch.bool, device=means.device)
    estimate, low, high, df = estimator.jackknife_interval(means.double(), confidence, design)
    return (df >= min_sets - 1) & (estimator.relative(estimate, low, high) <= rtol)


def is_tight(means: torch.Tensor, cfg: Settings) -> bool:
    """:func:`tight` for one scheme's set means [M, C] under the probe's settings."""
    return bool(tight(means, rtol=cfg.rtol, min_sets=cfg.min_sets, confidence=cfg.confidence, design=cfg.design))


def unconverged(out: engine.EngineOutput, names: Sequence[str], cfg: Settings) -> set[str]:
    """The schemes whose interval is not yet tight (:func:`is_tight`); all of them while one has too few sets."""
    if not names:
        return set()
    if out.counts[names[0]] < max(cfg.min_sets, _FEWEST_SETS):
        return set(names)
    return {n for n in names if not is_tight(out.set_means(n), cfg)}


def is_tie(ci_low: float, ci_high: float, lower: float, min_diff: float) -> bool:
    """Two schemes are tied when their difference's whole interval lies within ``min_diff`` x ``lower``."""
    return max(abs(ci_low), abs(ci_high)) < min_diff * lower


def unresolved(out: engine.EngineOutput, names: Sequence[str], cfg: Settings, min_diff: float = 0.0) -> set[str]:
    """Schemes of adjacent pairs in the ranking still worth sampling: neither resolved nor tied.

    A pair is resolved when its paired difference is significant, tied when the whole interval of
    the difference lies within ``min_diff`` of the lower scheme's T. stddev (too close to matter),
    and frozen when one of the two is no longer sampled (more sets of the other cannot help).
    """
    ordered = sorted(names, key=lambda n: float(stddev_of_means(out.set_means(n))))
    latest = max(out.counts[n] for n in names)
    left = set()
    for a, b in itertools.pairwise(ordered):
        if out.counts[a] < latest or out.counts[b] < latest:
            continue  # frozen: one of the two is no longer sampled
        if latest < _FEWEST_SETS:
            left |= {a, b}
            continue
        ma, mb = out.set_means(a).double(), out.set_means(b).double()
        low, high, _ = estimator.paired_bounds(ma, mb, cfg.confidence, cfg.design)
        low, high = float(low), float(high)
        if low <= 0 <= high and not is_tie(low, high, float(stddev_of_means(ma)), min_diff):
            left |= {a, b}
    return left
