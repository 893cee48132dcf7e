"""``measure_scheme`` and ``rank``: the probe's public entry points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd
import torch
from torch import nn

from dastat import augment, distributed
from dastat.constants import PAPER_SCHEMES, STUDENT_FREE
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import DastatError, InvalidArgumentError
from dastat.probe import engine, protocols
from dastat.probe.estimator import paired_difference
from dastat.probe.options import ProbeOptions
from dastat.probe.progress import RoundProgress
from dastat.probe.result import ProbeResult, summarise


class ProbeInterrupted(DastatError):
    """Ctrl-C during a probe; ``partial`` holds the estimates so far (nothing was recorded)."""

    def __init__(self, partial: list[ProbeResult]):
        shown = ", ".join(f"{r.scheme} {r.t_stddev:.6g} ({r.n_sets} sets)" for r in partial)
        super().__init__(f"probe interrupted; estimates so far, not recorded: {shown or 'none'}")
        self.partial = partial


def _run(
    teacher: nn.Module,
    dataset: ImageTensorDataset,
    schemes: Sequence,
    options: ProbeOptions,
    *,
    student: nn.Module | None,
    device: str | torch.device,
    progress: bool,
    resolve: bool,
    return_sets: bool,
) -> list[ProbeResult]:
    """One result per scheme."""
    world, dev = distributed.join(resolve_device(device))
    teacher, dataset, dev = protocols.prepare(teacher, dataset, dev)
    if student is not None:
        student = student.to(dev).eval()
    cfg = protocols.plan(options, len(dataset))
    fill = augment.fill_colour(teacher, dataset)
    slots = [protocols.make_slot(s, dataset=dataset, teacher=teacher, student=student, cfg=cfg, fill=fill)
            for s in schemes]
    names = [slot.name for slot in slots]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"schemes must be distinct; got {names}")
    # x is always the per-sample standard crop + flip (the reference's data loader, docs/method.md, "Protocols").
    base = augment.standard(dataset.image_size, randomness="sample")

    def controller(out: engine.EngineOutput) -> set[str]:
        left = protocols.unconverged(out, names, cfg)
        if left:
            return set(names)  # keep every scheme on the same sets until all intervals are tight
        return protocols.unresolved(out, names, cfg, options.min_diff) if resolve else set()

    bar = RoundProgress(cfg, names, enabled=progress and world.is_main)
    with bar:
        out = engine.run(
            teacher, dataset, slots, base=base, stream=cfg.stream(dev), batches_per_unit=cfg.batches_per_unit,
            units_per_set=cfg.units_per_set, seed=cfg.seed, max_units=cfg.max_sets * cfg.units_per_set,
            check_every=cfg.check_every * cfg.units_per_set,
            controller=None if cfg.protocol == "paper" else controller, amp=cfg.amp, on_round=bar.update,
        )
    common = {
        "protocol": cfg.protocol,
        "randomness": cfg.randomness,
        "set_size": cfg.set_size,
        "seed": cfg.seed,
        "rtol": cfg.rtol if cfg.protocol == "fast" else math.nan,
        "normalisation": {"mean": list(getattr(teacher, "mean", dataset.mean)),
                          "std": list(getattr(teacher, "std", dataset.std))},
        "teacher": str(getattr(teacher, "arch", "") or ""),
        "teacher_checksum": str(getattr(teacher, "checksum", "") or ""),
        "dataset": dataset.name,
        "pool_dependent": cfg.pool_dependent,
    }
    results = [
        summarise(out, slot.name, confidence=cfg.confidence, ci_method="jackknife", return_sets=return_sets,
                  scheme_params=protocols.scheme_params(slot), **common)
        for slot in slots
    ]
    if out.interrupted:
        raise ProbeInterrupted(results)
    return results


def measure_scheme(
    teacher: nn.Module,
    dataset: ImageTensorDataset,
    scheme,
    options: ProbeOptions | None = None,
    *,
    student: nn.Module | None = None,
    device: str | torch.device = "auto",
    return_sets: bool = False,
    progress: bool = False,
    **changes,
) -> ProbeResult:
    """T. stddev of one augmentation scheme for a teacher (paper Eq. 10; docs/method.md, "T. stddev and its estimator").

    Parameters
    ----------
    teacher : nn.Module
        Takes uint8 images [B,3,H,W] and returns logits [B,C] (``dastat.models.load_teacher``).
    dataset : ImageTensorDataset
        The stream of images (the training split in the paper).
    scheme : str or Scheme
        A registered scheme name (``dastat.augment.list_schemes()``) or a Scheme object.
    options : ProbeOptions, optional
        How to measure (protocol, rtol, max_sets, seed, ...; defaults: ``ProbeOptions()``). ``fast``
        (default): every batch draws its images independently (with replacement) from the dataset,
        so T. stddev does not depend on its size; per-sample randomness; estimated from batch units;
        stops when the interval's relative half-width is at most ``rtol`` (or at ``max_sets``).
        ``paper``: the reference procedure, ``epochs`` passes of the shuffled dataset, scheme
        randomness drawn once per batch; on fewer than 20 sets' worth of images its value depends on
        the dataset's size (``result.pool_dependent``).
    student : nn.Module, optional
        Needed by ``cutmixpick_s``.
    device : "auto", "cpu" or "cuda[:N]"
    return_sets : bool
        Keep the mean probabilities per set ([n_sets, C]) in ``result.set_means`` and per
        independent unit (a batch under ``fast``, a set under ``paper``) in ``result.unit_means``.
    progress : bool
        A progress bar on stderr.
    **changes
        Fields of :class:`ProbeOptions` that replace those of ``options`` (``rtol=0.02``).

    Returns
    -------
    ProbeResult

    Raises
    ------
    DastatError
        Class-count or image-size mismatch, a scheme that needs a missing student, bad options,
        NaN/inf teacher outputs (NumericalError), Ctrl-C (ProbeInterrupted, with the partial result).
    """
    (result,) = _run(teacher, dataset, [scheme], _options(options, changes), student=student, device=device,
                     progress=progress, resolve=False, return_sets=return_sets)
    return result


def rank(
    teacher: nn.Module,
    dataset: ImageTensorDataset,
    schemes: Sequence | str = "all",
    options: ProbeOptions | None = None,
    *,
    student: nn.Module | None = None,
    device: str | torch.device = "auto",
    return_sets: bool = False,
    progress: bool = False,
    n_resamples: int = 2000,
    **changes,
) -> Ranking:
    """Probe several schemes on common random numbers and rank them by T. stddev (lowest first).

    Every scheme sees the same image order and the same base crop/flip, so differences between
    schemes are estimated on paired sets. Each row but the last compares the scheme with the
    next one in the ranking: ``diff_next`` (next minus this), its paired jackknife interval,
    ``p_value`` and ``significant`` at the chosen confidence.

    Parameters
    ----------
    schemes : "all" or list of names / Scheme objects
        "all" = the paper's student-free schemes, plus ``cutmixpick_s`` when ``student`` is given.
    options : ProbeOptions, optional
        As for :func:`measure_scheme`, and two fields of its own. ``resolve``: keep sampling the
        schemes of adjacent pairs that are neither significantly different nor tied, until none is
        left or ``max_sets`` is spent (fast protocol); the other schemes stop. ``min_diff``: the
        relative difference below which two adjacent schemes are tied: when the interval of their
        difference lies within ``min_diff`` times the lower T. stddev (column ``tied``).
    student, device, return_sets, progress, **changes
        As for :func:`measure_scheme`.
    n_resamples : int
        Resamples of the paired test of adjacent schemes.

    Returns
    -------
    Ranking
        ``.table`` (DataFrame, one row per scheme, lowest T. stddev first) and ``.results`` (the
        ProbeResults in the order of ``schemes``).
    """
    if isinstance(schemes, str):
        if schemes != "all":
            raise InvalidArgumentError(f"schemes must be 'all' or a list of schemes; got {schemes!r}")
        schemes = list(PAPER_SCHEMES if student is not None else STUDENT_FREE)
    if not schemes:
        raise InvalidArgumentError("schemes must name at least one scheme")
    options = _options(options, changes)
    results = _run(teacher, dataset, list(schemes), options, student=student, device=device, progress=progress,
                   resolve=options.resolve, return_sets=True)
    table = ranking_table(results, n_resamples=n_resamples, seed=results[0].seed, min_diff=options.min_diff)
    if not return_sets:
        results = [_without_sets(r) for r in results]
    return Ranking(table, results)


@dataclass(frozen=True)
class Ranking:
    """What :func:`rank` returns: the ranked ``table`` and each scheme's ``results``."""

    table: pd.DataFrame
    results: list[ProbeResult]

    def _repr_html_(self) -> str | None:
        return self.table._repr_html_()


def ranking_table(results: Sequence[ProbeResult], *, n_resamples: int = 2000, seed: int = 0,
                  min_diff: float = 0.01) -> pd.DataFrame:
    """The ranked table of :func:`rank` from results that kept their ``unit_means``.

    ``tied``: the paired interval of the difference to the next scheme lies within ``min_diff``
    times this scheme's T. stddev.
    """
    ordered = sorted(results, key=lambda r: r.t_stddev)
    rows = []
    g = torch.Generator().manual_seed(seed)
    for i, res in enumerate(ordered):
        row = {"rank": i + 1, **{k: v for k, v in res.to_dict().items()
                                 if k not in ("normalisation", "scheme_params")}}
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if nxt is not None and min(res.n_units, nxt.n_units) >= 3:
            pair = paired_difference(torch.from_numpy(res.unit_means), torch.from_numpy(nxt.unit_means),
                                     confidence=res.confidence, units_per_set=res.units_per_set,
                                     n_resamples=n_resamples, generator=g)
            tied = protocols.is_tie(pair.ci_low, pair.ci_high, res.t_stddev, min_diff)
            row.update(next_scheme=nxt.scheme, diff_next=pair.diff, diff_ci_low=pair.ci_low,
                       diff_ci_high=pair.ci_high, p_value=pair.p_value, significant=pair.is_significant,
                       tied=bool(tied))
        else:
            row.update(next_scheme=nxt.scheme if nxt is not None else None, diff_next=math.nan,
                       diff_ci_low=math.nan, diff_ci_high=math.nan, p_value=math.nan, significant=None, tied=None)
        rows.append(row)
    return pd.DataFrame(rows)


def _options(options: ProbeOptions | None, changes: dict) -> ProbeOptions:
    if options is not None and not isinstance(options, ProbeOptions):
        raise InvalidArgumentError(f"options must be a ProbeOptions; got {options!r} (give protocol= by name)")
    return (options or ProbeOptions()).updated(**changes)


def _without_sets(result: ProbeResult) -> ProbeResult:
    return replace(result, set_means=None, unit_means=None)
