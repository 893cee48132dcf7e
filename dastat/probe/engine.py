"""The batched probe loop: teacher forwards on x and x' for several schemes at once.

All schemes share the image order and the base crop/flip of x (common random numbers, docs/method.md, "Protocols"):
x is made and scored once, each scheme adds its own x' block. Two schemes add none: ``identity``,
whose x' is x itself, and a picking scheme ranked by the teacher's own entropy (``cutmixpick_t``),
whose x' the teacher has already scored as part of its pool: the kept rows of those logits are used.
Per-set sums are accumulated in float64 on the device; the host looks at them only between rounds
of sets, where the stopping rule (``controller``) runs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dastat.augment.geometry import Identity
from dastat.augment.picking import Pick
from dastat.data.dataset import ImageTensorDataset
from dastat.errors import NumericalError
from dastat.probe import distributed
from dastat.probe.stream import BatchStream, generator_for

# Columns of the per-set record after the C probability (or label) columns.
ENTROPY, ROWS, CORRECT, ENTROPY_XPRIME, FORWARDS, BAD_BATCH = range(6)
_EXTRA = 6


@dataclass
class Job:
    """One scheme to probe: its key, the scheme, and the network its picking needs (or None)."""

    name: str
    scheme: Callable
    scorer: nn.Module | None = None


def reuses_x(scheme: Callable) -> bool:
    """Whether ``scheme``'s x' is x itself (``identity``): the engine then scores x once for both."""
    return type(scheme) is Identity


def reuses_pool(scheme: Callable, scorer: nn.Module | None, teacher: nn.Module) -> bool:
    """Whether ``scheme``'s x' is picked from a pool the teacher itself scored: its logits are then reused."""
    return isinstance(scheme, Pick) and scheme.criterion == "teacher_entropy" and scorer is teacher


@dataclass
class EngineOutput:
    """Per-set records of a run: ``records[k, 0]`` is x (labels in the C columns), ``records[k, 1+s]`` scheme s."""

    names: list[str]
    records: Tensor  # [n_sets, 1 + S, C + 6] float64, on the host
    counts: dict[str, int]  # sets closed per scheme (a prefix of the rows)
    num_classes: int
    elapsed_s: float
    interrupted: bool

    def set_means(self, name: str) -> Tensor:
        s = 1 + self.names.index(name)
        return self.records[: self.counts[name], s, : self.num_classes]

    def column(self, name: str | None, col: int) -> Tensor:
        s = 0 if name is None else 1 + self.names.index(name)
        n = len(self.records) if name is None else self.counts[name]
        return self.records[:n, s, self.num_classes + col]

    def label_means(self, name: str | None = None) -> Tensor:
        n = len(self.records) if name is None else self.counts[name]
        return self.records[:n, 0, : self.num_classes]


class _CountingScorer(nn.Module):
    """Counts the images a picking scheme sends through its scorer (host ints: no sync); keeps the last logits."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.images, self.last = net, 0, None

    def forward(self, x: Tensor) -> Tensor:
        self.images += x.shape[0]
        self.last = self.net(x)
        return self.last


def run(
    teacher: nn.Module,
    dataset: ImageTensorDataset,
    jobs: Sequence[Job],
    *,
    base: Callable,
    batch_size: int,
    batches_per_set: int,
    seed: int,
    max_sets: int,
    check_every: int,
    controller: Callable[[EngineOutput], set[str]] | None = None,
    amp: bool = False,
    on_round: Callable[[EngineOutput], None] | None = None,
) -> EngineOutput:
    """Close sets until ``controller`` returns no active scheme or ``max_sets`` sets are done.

    ``controller`` sees the sets so far and returns the names still to sample; None runs all
    schemes to ``max_sets``. A Ctrl-C ends the run after the last complete round, flagged
    ``interrupted``.
    """
    device = dataset.device
    c = dataset.num_classes
    names = [job.name for job in jobs]
    scorers = {job.name: _CountingScorer(job.scorer) if job.scorer is not None else None for job in jobs}
    stream = BatchStream(len(dataset), batch_size, seed=seed, device=device)
    world, rank = distributed.world_size(), distributed.rank()
    width = 1 + len(jobs)
    same_as_x = {1 + s for s, job in enumerate(jobs) if reuses_x(job.scheme)}
    from_pool = {1 + s for s, job in enumerate(jobs) if reuses_pool(job.scheme, job.scorer, teacher)}
    records = torch.full((max_sets, width, c + _EXTRA), math.nan, dtype=torch.float64, device=device)
    counts = dict.fromkeys(names, 0)
    active = set(names)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    start, done, interrupted = time.perf_counter(), 0, False

    def compute_set(k: int) -> Tensor:
        record = torch.zeros(width, c + _EXTRA, dtype=torch.float64, device=device)
        record[:, c + BAD_BATCH] = -1
        probs_x = torch.zeros(c, dtype=torch.float64, device=device)  # x's share of every scheme's set
        slots = [0] + [1 + s for s, job in enumerate(jobs) if job.name in active]
        g_base = generator_for(seed, f"base:{k}", device)
        gens = {n: generator_for(seed, f"scheme:{n}:{k}", device) for n in names if n in active}
        for b in range(k * batches_per_set, (k + 1) * batches_per_set):
            index = stream.batch(b)
            labels = dataset.labels[index]
            x = base(dataset.images[index], generator=g_base)
            blocks, fed = [x], [0]  # the forward's blocks and the slot each one is for
            scored = []  # (slot, teacher logits of its x') for x' the teacher scored in the pool
            for slot in slots[1:]:
                if slot in same_as_x:
                    continue
                job, scorer = jobs[slot - 1], scorers[jobs[slot - 1].name]
                before = scorer.images if scorer is not None else 0
                if slot in from_pool:
                    _, params = job.scheme(x, generator=gens[job.name], scorer=scorer, return_params=True)
                    scored.append((slot, scorer.last.index_select(0, params.kept)))
                else:
                    blocks.append(job.scheme(x, generator=gens[job.name], scorer=scorer))
                    fed.append(slot)
                if scorer is not None:
                    record[slot, c + FORWARDS] += scorer.images - before
            with autocast:
                logits = teacher(torch.cat(blocks))
            if scored:
                logits = torch.cat([logits.float(), *(kept.float() for _, kept in scored)])
            probs = logits.double().softmax(-1)  # [rows, C]; float64 so set sums are exact to 1e-15
            entropy = torch.special.entr(probs).sum(1)  # [rows]
            hits = logits.argmax(1)
            finite = torch.isfinite(logits).all(1)
            parts, offset = {}, 0
            for slot, rows in [*((slot, block.shape[0]) for slot, block in zip(fed, blocks)),
                               *((slot, kept.shape[0]) for slot, kept in scored)]:
                parts[slot] = slice(offset, offset + rows)
                offset += rows
            new_rows = set(fed)  # rows this forward added (reused rows were counted where they were made)
            for slot in slots:
                part = parts.get(slot, parts[0])
                n = part.stop - part.start
                row = record[slot]
                (probs_x if slot == 0 else row[:c]).add_(probs[part].sum(0))
                row[c + ENTROPY] += entropy[part].sum()
                row[c + ROWS] += n
                row[c + FORWARDS] += n if slot in new_rows else 0
                if n == labels.shape[0]:  # a picked x' has no per-image label
                    row[c + CORRECT] += (hits[part] == labels).sum()
                else:
                    row[c + CORRECT] = math.nan
                bad = ~finite[part].all()
                row[c + BAD_BATCH] = torch.where(bad & (row[c + BAD_BATCH] < 0), float(b), row[c + BAD_BATCH])
            record[0, :c].index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))
        x_row = record[0].clone()
        for slot in range(1, width):
            row = record[slot]
            if slot not in slots:  # this scheme was no longer sampled
                row.fill_(math.nan)
                continue
            rows_all = x_row[c + ROWS] + row[c + ROWS]
            row[c + ENTROPY_XPRIME] = row[c + ENTROPY] / row[c + ROWS]
            row[:c] = (probs_x + row[:c]) / rows_all
            row[c + ENTROPY] = (x_row[c + ENTROPY] + row[c + ENTROPY]) / rows_all
        record[0, :c] /= x_row[c + ROWS]
        record[0, c + ENTROPY] = x_row[c + ENTROPY] / x_row[c + ROWS]
        return record

    def output() -> EngineOutput:
        return EngineOutput(
            names, records[:done].cpu(), dict(counts), c, time.perf_counter() - start, interrupted
        )

    round_size = world * check_every
    with torch.inference_mode():
        try:
            while active and done < max_sets:
                first = done
                last = min(max_sets, first + round_size)
                mine = [k for k in range(first, last) if (k - first) % world == rank]
                local = torch.stack([compute_set(k) for k in mine]) if mine else records[:0]
                records[first:last] = distributed.gather_sets(local, last - first, world)
                for name in active:
                    counts[name] = last
                done = last
                _raise_on_nonfinite(records[first:last], names, c, stream)
                if on_round is not None:
                    on_round(output())
                if controller is not None:
                    active = controller(output()) & active
        except KeyboardInterrupt:
            interrupted = True
    return output()


def _raise_on_nonfinite(block: Tensor, names: list[str], c: int, stream: BatchStream) -> None:
    bad = block[:, :, c + BAD_BATCH]
    if bool((bad >= 0).any()):
        first = int(bad[bad >= 0].min())
        slot = int((bad == first).nonzero()[0, 1])
        what = "x (the base augmentation)" if slot == 0 else f"x' of scheme {names[slot - 1]!r}"
        raise NumericalError(
            f"the teacher returned NaN or inf on {what} in batch {first} "
            f"(epoch {stream.epoch_of(first)}); check the checkpoint's weights and the input "
            "normalisation (--mean/--std)"
        )
