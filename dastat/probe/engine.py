"""The probe loop: rounds of units, each round a few large teacher forwards over all its units.

A unit is what the record keeps one row of and the estimator treats as independent: a batch in
protocol ``fast`` (each batch draws its images independently), a set of batches in protocol
``paper`` (docs/method.md, "T. stddev and its estimator"). Every scheme augments batch by batch, so
no x' row depends on another batch and the batches of ``fast`` stay independent.

All schemes share the image draws and the base crop/flip of x (common random numbers; see
docs/method.md, "Protocols"): x is made and scored once, each scheme adds its own x' rows. Two
schemes add none: ``identity``, whose x' is x itself, and a picking scheme ranked by the
teacher's own entropy (``cutmixpick_t``), whose pool the teacher scores anyway: the kept rows
of those logits are used.

A round runs in passes of as many units as memory holds. A pass draws every unit's randomness
from that unit's own generators in the order a unit-by-unit loop would (so the units, their order
and their composition do not depend on how units are grouped), augments all its batches in one
call per scheme, sends every row through the teacher's inference copy (BatchNorm folded, channels-last:
``dastat.models.inference``) in forwards of ``forward_rows``, and books
each row to its (unit, scheme) with one scatter-add per figure. The host looks at the sums only
between rounds, where the stopping rule (``controller``) runs; the record grows a round at a time.
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from dastat import distributed
from dastat.augment.scheme import RowLabels, Scheme
from dastat.data.dataset import ImageTensorDataset
from dastat.device import autocast
from dastat.errors import NumericalError
from dastat.models.inference import inference_copy
from dastat.probe.stream import EpochStream, IndependentDraws, generator_for

# CPU forwards: large ones spend their time in the kernel, mapping and unmapping fresh activation
# buffers (the no-argument ranking's first 24 sets on 2 idle cores: 2,048 rows 36 s wall, 34 s of it
# system time; 512 rows 34 s / 27 s; 256 rows 21-28 s / 6-14 s; 128 rows 25 s / 12 s). CUDA takes what
# memory allows.
CPU_FORWARD_ROWS = 256
# A CPU pass of a whole round: autoaugment's per-op groups grow with the pass, and its cost per image with
# them falls (digits, one thread: 77 ms per 1,000 images at 320 images a call, 29 ms at 2,560); the
# no-argument ranking's round of 8 sets x 8 schemes is 24,320 rows.
CPU_PASS_FORWARDS = 96
# glibc (CPU): freed blocks up to this size stay in the heap, so each forward's activation buffers reuse
# memory instead of being mapped and zeroed afresh by the kernel (resnet8, 256 rows, 2 threads: 113k-238k
# page faults and 0.02-0.04 s system time a forward, against ~300 faults and 0.001 s).
CPU_KEEP_FREED_BYTES = 1 << 30
MEMORY_SHARE = 0.5  # of the free memory a pass may plan to use (the rest: other processes, fragmentation)


@dataclass
class SchemeSlot:
    """One scheme to probe: its key, the scheme, and what its picking needs (``augment.scorer_for``)."""

    name: str
    scheme: Scheme
    scorer: nn.Module | tuple[nn.Module, nn.Module] | None = None


def reuses_x(scheme: Scheme) -> bool:
    """Whether ``scheme``'s x' is x itself (``identity``): the engine then scores x once for both."""
    return scheme.is_identity


def reuses_pool(scheme: Scheme, scorer: nn.Module | None, teacher: nn.Module) -> bool:
    """Whether ``scheme``'s x' is picked from a pool the teacher itself scored: its logits are then reused."""
    return scheme.picks and scheme.scorer == "teacher" and scorer is teacher


@dataclass
class UnitRecords:
    """The per-unit figures of a run, one row per unit, float64; scheme columns in the order of the jobs.

    A scheme no longer sampled in a unit (``rank(resolve=True)``) has NaN in that unit's columns.
    """

    labels: Tensor  # [n, C] mean one-hot label of the unit's x rows (the floor's input)
    entropy_x: Tensor  # [n] mean teacher entropy over the x rows
    rows_x: Tensor  # [n]
    correct_x: Tensor  # [n] x rows whose teacher argmax is their label
    forwards_x: Tensor  # [n] teacher forwards of x
    means: Tensor  # [n, S, C] mean teacher probabilities over the unit's x and x' rows: T. stddev's input
    entropy: Tensor  # [n, S] mean teacher entropy over the x and x' rows
    entropy_xprime: Tensor  # [n, S] over the x' rows
    rows_xprime: Tensor  # [n, S]
    correct_xprime: Tensor  # [n, S] x' rows whose argmax is their base image's label
    forwards_xprime: Tensor  # [n, S] forwards x' added: teacher rows, and a picking scorer's pool
    bad_batch_x: Tensor  # [n] first batch of the unit with a NaN/inf teacher output on x; NaN if none
    bad_batch_xprime: Tensor  # [n, S] the same on x'
    # Sums over the x' rows for the teacher-side predictors (docs/method.md, "Teacher-side predictors");
    # a mixing scheme's row has the label λ·(own) + (1 − λ)·(partner's).
    hits_xprime: Tensor  # [n, S] λ-weighted hits: the label's weight on the teacher's argmax
    ce_xprime: Tensor  # [n, S] teacher cross-entropy against the label
    mass_xprime: Tensor  # [n, S] teacher probability on the label
    kl_xprime: Tensor  # [n, S] KL(p(x) ‖ p(x')) over the rows with one source image
    single_xprime: Tensor  # [n, S] rows with one source image

    @classmethod
    def empty(cls, num_schemes: int, num_classes: int) -> UnitRecords:
        def shape(name: str) -> tuple[int, ...]:
            if name in ("labels", "means"):
                return (0, num_classes) if name == "labels" else (0, num_schemes, num_classes)
            return (0,) if name.endswith("_x") else (0, num_schemes)

        return cls(**{f.name: torch.empty(shape(f.name), dtype=torch.float64) for f in fields(cls)})

    def __len__(self) -> int:
        return self.labels.shape[0]

    def map(self, fn: Callable[[Tensor], Tensor]) -> UnitRecords:
        return UnitRecords(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def __getitem__(self, rows: slice) -> UnitRecords:
        return self.map(lambda t: t[rows])

    @staticmethod
    def cat(parts: Sequence[UnitRecords]) -> UnitRecords:
        return UnitRecords(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(UnitRecords)})


@dataclass
class EngineOutput:
    """The units of a run so far: ``records`` and, per scheme, how many units it closed (a prefix)."""

    names: list[str]
    records: UnitRecords  # on the host
    counts: dict[str, int]
    num_classes: int
    elapsed_s: float
    interrupted: bool
    units_per_set: int = 1  # batches per set when a unit is a batch (fast), 1 when it is a set (paper)

    def slot(self, name: str) -> int:
        return self.names.index(name)

    def unit_means(self, name: str) -> Tensor:
        return self.records.means[: self.counts[name], self.slot(name)]

    def label_means(self, name: str | None = None) -> Tensor:
        n = len(self.records) if name is None else self.counts[name]
        return self.records.labels[:n]


class _CountingScorer(nn.Module):
    """Counts the images a scheme sends through its scorer (host ints: no sync)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.images = net, 0

    def forward(self, x: Tensor) -> Tensor:
        self.images += x.shape[0]
        return self.net(x)


def _counting(scorer):
    """A scorer (one network or a ``(teacher, student)`` pair) whose forwards are counted, or None."""
    if scorer is None:
        return None
    return tuple(map(_CountingScorer, scorer)) if isinstance(scorer, tuple) else _CountingScorer(scorer)


def _images_scored(scorer) -> int:
    """Images a counting scorer has sent through its networks (each network's forwards count)."""
    if scorer is None:
        return 0
    return sum(s.images for s in scorer) if isinstance(scorer, tuple) else scorer.images


@dataclass
class _Piece:
    """Rows of one batch for one slot of one unit, scored by the teacher in the pass's forward."""

    images: Tensor
    labels: Tensor  # each row's label: its base image's
    segment: int  # j * width + slot, for unit j of the pass
    batch: int  # the global batch index (for the NaN message)
    pick: Scheme | None = None  # a pool the teacher scores for this scheme: only its kept rows are booked
    mix: RowLabels | None = None  # each row's label weights and source image; None: x itself


@dataclass
class _Pass:
    """What a pass sends through the teacher, and the forwards each segment made outside it."""

    n_units: int
    width: int
    pieces: list[_Piece]
    x_labels: list[Tensor]  # per unit, the labels of its x rows
    scorer_forwards: dict[int, int]  # segment -> images a picking scheme's own scorer saw


class _Engine:
    """What a run keeps fixed (teacher, data, schemes, stream, sizes), and one pass over a group of units."""

    def __init__(self, teacher: nn.Module, dataset: ImageTensorDataset, jobs: Sequence[SchemeSlot], *, base: Callable,
                 stream: IndependentDraws | EpochStream, batches_per_unit: int, seed: int, amp: bool):
        self.teacher, self.dataset, self.jobs, self.base = teacher, dataset, list(jobs), base
        self.net = inference_copy(teacher, dataset.images[:8])  # the forwards' teacher: same logits to ~1e-6
        self.batches_per_unit, self.seed = batches_per_unit, seed
        self.device, self.c, self.width = dataset.device, dataset.num_classes, 1 + len(jobs)
        self.stream = stream
        self.scorers = {job.name: _counting(job.scorer) for job in jobs}
        self.autocast = autocast(self.device, amp)
        self.row_bytes = _row_bytes(self.net, dataset.images[:1])
        self.forward_rows = _forward_rows(self.device, self.row_bytes)

    def rows_per_unit(self, active: set[str]) -> int:
        """Teacher rows of one unit: x, and each active scheme's x' or pool."""
        per_image = 1
        for job in self.jobs:
            if job.name in active and not reuses_x(job.scheme):
                per_image += job.scheme.pool_factor
        return per_image * self.stream.batch_size * self.batches_per_unit

    def units_per_pass(self, active: set[str]) -> int:
        """Units one pass holds (images, logits, float64 sums) within a share of the free memory."""
        per_row = 3 * self.dataset.images[0].numel() + 4 * 8 * self.c  # x, x', their copy; logits, probs, terms
        rows = self.rows_per_unit(active)
        budget = MEMORY_SHARE * _free_memory(self.device) - self.forward_rows * self.row_bytes
        fits = max(1, int(budget // (per_row * rows)))
        if self.device.type == "cpu":  # a bigger pass saves nothing on CPU: cap it, leave the RAM to others
            fits = min(fits, max(1, CPU_PASS_FORWARDS * self.forward_rows // rows))
        return fits

    def compute(self, units: Sequence[int], active: set[str]) -> UnitRecords:
        """The records of ``units`` (in order), every active scheme at once."""
        work = self._augment(units, active)
        with self.autocast:
            logits = _chunked(self.net, torch.cat([p.images for p in work.pieces]), self.forward_rows)
        return self._book(work, logits, active)

    def _augment(self, units: Sequence[int], active: set[str]) -> _Pass:
        """Every batch of every unit: x from the base scheme, then each active scheme's x' (or pool)."""
        bpu, width, dev = self.batches_per_unit, self.width, self.device
        batches = [b for k in units for b in range(k * bpu, (k + 1) * bpu)]
        indices = [self.stream.batch(b) for b in batches]
        sizes = [i.shape[0] for i in indices]
        everything = torch.cat(indices)  # one gather for the pass
        labels = list(self.dataset.labels[everything].split(sizes))
        images = list(self.dataset.images[everything].split(sizes))
        set_of = [j for j in range(len(units)) for _ in range(bpu)]  # position in the pass, per batch
        # Draws follow a unit-by-unit loop: each unit has its own generators, used batch after batch.
        gens = [generator_for(self.seed, f"base:{k}", dev) for k in units]
        xs = self.base.apply_batches(images, [self.base.sample(im, gens[j]) for im, j in zip(images, set_of)])
        work = _Pass(len(units), width, [], [torch.cat(labels[j * bpu:(j + 1) * bpu]) for j in range(len(units))], {})
        work.pieces += [_Piece(x, lab, j * width, b) for x, lab, j, b in zip(xs, labels, set_of, batches)]
        for slot, job in enumerate(self.jobs, start=1):
            if job.name not in active or reuses_x(job.scheme):
                continue
            gens = [generator_for(self.seed, f"scheme:{job.name}:{k}", dev) for k in units]
            gen_of = [gens[j] for j in set_of]
            segments = [j * width + slot for j in set_of]
            scheme = job.scheme
            if _picks_vectorised(job):
                self._pick(work, job, xs, gen_of, labels, segments, batches)
                continue
            if scheme.samples_then_applies:
                for x in xs:
                    scheme.check_batch(x)
                params = [scheme.sample(x, g) for x, g in zip(xs, gen_of)]
                out = scheme.apply_batches(xs, params)
            else:  # a scheme with its own call (a wrapped transform): batch by batch
                out, params = [], []
                scorer = self.scorers[job.name]
                for x, g, seg in zip(xs, gen_of, segments):
                    before = _images_scored(scorer)
                    xp, p = scheme(x, generator=g, scorer=scorer, return_params=True)
                    out.append(xp)
                    params.append(p)
                    if scorer is not None:
                        work.scorer_forwards[seg] = work.scorer_forwards.get(seg, 0) + _images_scored(scorer) - before
            mixes = [scheme.row_labels(p, lab) for p, lab in zip(params, labels)]
            work.pieces += [_Piece(xp, mix.own, seg, b, mix=mix)
                            for xp, mix, seg, b in zip(out, mixes, segments, batches)]
        return work

    def _pick(self, work: _Pass, job: SchemeSlot, xs, gen_of, labels, segments, batches) -> None:
        """A picking scheme: its pools, scored by the teacher in the forward or here by its own scorer."""
        scheme, pf = job.scheme, job.scheme.pool_factor
        for x in xs:
            scheme.check_batch(x)
        params = [scheme.base.sample(x, g) for x, g in zip(xs, gen_of) for _ in range(pf)]
        runs = scheme.base.apply_batches([x for x in xs for _ in range(pf)], params)
        pools = [torch.cat(runs[i * pf:(i + 1) * pf]) for i in range(len(xs))]
        mixes = [scheme.pool_labels(params[i * pf:(i + 1) * pf], lab) for i, lab in enumerate(labels)]
        if reuses_pool(scheme, job.scorer, self.teacher):
            work.pieces += [_Piece(pool, mix.own, seg, b, pick=scheme, mix=mix)
                            for pool, seg, b, mix in zip(pools, segments, batches, mixes)]
            return
        with torch.no_grad():
            scorer = self.net if job.scorer is self.teacher else job.scorer
            logits = _chunked(scorer, torch.cat(pools), self.forward_rows).split([p.shape[0] for p in pools])
        for pool, lg, seg, b, mix in zip(pools, logits, segments, batches, mixes):
            kept = scheme.score(lg).topk(scheme.kept_count(pool.shape[0] // pf)).indices
            mix = mix.select(kept)
            work.pieces.append(_Piece(pool.index_select(0, kept), mix.own, seg, b, mix=mix))
            work.scorer_forwards[seg] = work.scorer_forwards.get(seg, 0) + pool.shape[0]

    def _book(self, work: _Pass, logits: Tensor, active: set[str]) -> UnitRecords:
        """Scatter every booked row's figures to its (unit, slot); then the per-unit means."""
        dev, width, n = self.device, work.width, work.n_units
        segments = n * width
        forwards = torch.zeros(segments, dtype=torch.float64)
        for seg, count in work.scorer_forwards.items():
            forwards[seg] += count
        sizes = [piece.images.shape[0] for piece in work.pieces]
        for piece, size in zip(work.pieces, sizes):
            forwards[piece.segment] += size
        counts = torch.tensor(sizes, device=dev)

        def per_row(values: list) -> Tensor:
            return torch.repeat_interleave(torch.tensor(values, device=dev), counts)

        seg_all = per_row([piece.segment for piece in work.pieces])
        batch_all = per_row([piece.batch for piece in work.pieces])
        labels_all = torch.cat([piece.labels for piece in work.pieces])
        plain = per_row([piece.pick is None for piece in work.pieces]).nonzero().squeeze(1)
        rows, seg_of, labels, batch_of = [plain], [seg_all[plain]], [labels_all[plain]], [batch_all[plain]]
        for kept in self._kept_rows(work.pieces, sizes, logits):  # a teacher-scored pool books its kept rows
            rows.append(kept)
            seg_of.append(seg_all[kept])
            labels.append(labels_all[kept])
            batch_of.append(batch_all[kept])
        index, seg, label = torch.cat(rows), torch.cat(seg_of), torch.cat(labels)
        kept_logits = logits.index_select(0, index).float()
        probs = kept_logits.double().softmax(-1)  # float64: unit sums exact to 1e-15
        sums = _segment_sums(seg, segments, probs, kept_logits, label, torch.cat(batch_of))
        partner, lam, source = _row_mix(work.pieces, sizes, dev)
        sums.update(_predictor_sums(seg, segments, logits, kept_logits, label, partner[index], lam[index],
                                    source[index]))
        return self._records(work, sums, forwards.to(dev).view(n, width), active)

    def _kept_rows(self, pieces: list[_Piece], sizes: list[int], logits: Tensor) -> list[Tensor]:
        """Forward rows each teacher-scored pool keeps: one top-k over all pools of a scheme and size."""
        groups: dict[tuple[int, int], tuple[Scheme, list[int]]] = {}
        start = 0
        for piece, size in zip(pieces, sizes):
            if piece.pick is not None:
                groups.setdefault((id(piece.pick), size), (piece.pick, []))[1].append(start)
            start += size
        kept = []
        for (_, size), (pick, starts) in groups.items():
            rows = torch.tensor(starts, device=logits.device)[:, None] + torch.arange(size, device=logits.device)
            scores = pick.score(logits[rows.flatten()].float()).view(len(starts), size)
            best = scores.topk(pick.kept_count(size // pick.pool_factor), dim=1).indices
            kept.append(rows.gather(1, best).flatten())
        return kept

    def _records(self, work: _Pass, sums: dict[str, Tensor], forwards: Tensor, active: set[str]) -> UnitRecords:
        n, width, c = work.n_units, work.width, self.c
        probs, entropy, rows, correct, bad, hits, ce, mass, kl, single = (
            sums[k].view(n, width, *sums[k].shape[1:])
            for k in ("probs", "entropy", "rows", "correct", "bad", "hits", "ce", "mass", "kl", "single"))
        for slot, job in enumerate(self.jobs, start=1):
            if reuses_x(job.scheme):  # x' is x: its figures are x's, with no forwards of its own
                for t in (probs, entropy, rows, correct, bad, hits, ce, mass):
                    t[:, slot] = t[:, 0]
                kl[:, slot], single[:, slot] = 0.0, rows[:, 0]  # each row its own source
        x_labels = torch.stack([torch.bincount(lab, minlength=c) for lab in work.x_labels]).double()
        rows_x, rows_xp = rows[:, :1], rows[:, 1:]
        records = UnitRecords(
            labels=x_labels / rows[:, 0, None],
            entropy_x=entropy[:, 0] / rows[:, 0],
            rows_x=rows[:, 0],
            correct_x=correct[:, 0],
            forwards_x=forwards[:, 0],
            means=(probs[:, :1] + probs[:, 1:]) / (rows_x + rows_xp)[..., None],
            entropy=(entropy[:, :1] + entropy[:, 1:]) / (rows_x + rows_xp),
            entropy_xprime=entropy[:, 1:] / rows_xp,
            rows_xprime=rows_xp.clone(),
            correct_xprime=correct[:, 1:].clone(),
            forwards_xprime=forwards[:, 1:].clone(),
            bad_batch_x=bad[:, 0],
            bad_batch_xprime=bad[:, 1:].clone(),
            hits_xprime=hits[:, 1:].clone(),
            ce_xprime=ce[:, 1:].clone(),
            mass_xprime=mass[:, 1:].clone(),
            kl_xprime=kl[:, 1:].clone(),
            single_xprime=single[:, 1:].clone(),
        )
        idle = [s for s, job in enumerate(self.jobs) if job.name not in active]
        if idle:  # schemes no longer sampled: no figures in these units
            for f in fields(records):
                t = getattr(records, f.name)
                if f.name == "means" or f.name == "entropy" or f.name.endswith("xprime"):
                    t[:, idle] = math.nan
        return records


def _segment_sums(seg: Tensor, segments: int, probs: Tensor, logits: Tensor, labels: Tensor,
                  batch: Tensor) -> dict[str, Tensor]:
    """Per segment: probability and entropy sums, rows, hits, and the first batch with a non-finite output."""
    dev, c = seg.device, probs.shape[1]
    entropy = torch.special.entr(probs).sum(1)
    hits = (logits.argmax(1) == labels).double()
    finite = torch.isfinite(logits).all(1)
    first_bad = torch.where(finite, math.inf, batch.double())
    return {
        "probs": torch.zeros(segments, c, dtype=torch.float64, device=dev).index_add_(0, seg, probs),
        "entropy": torch.zeros(segments, dtype=torch.float64, device=dev).index_add_(0, seg, entropy),
        "rows": torch.bincount(seg, minlength=segments).double(),
        "correct": torch.zeros(segments, dtype=torch.float64, device=dev).index_add_(0, seg, hits),
        "bad": _inf_to_nan(torch.full((segments,), math.inf, dtype=torch.float64, device=dev)
                           .scatter_reduce_(0, seg, first_bad, "amin")),
    }


def _row_mix(pieces: list[_Piece], sizes: list[int], dev: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Per forward row: the second label, the own label's weight, and the forward row of its source x (-1: none)."""
    starts = torch.tensor([0, *sizes]).cumsum(0)[:-1].tolist()
    x_start = {piece.batch: start for piece, start in zip(pieces, starts) if piece.mix is None}
    partner, lam, source = [], [], []
    for piece, size in zip(pieces, sizes):
        mix = piece.mix
        if mix is None:  # x: its own label, no source to compare with
            partner.append(piece.labels)
            lam.append(torch.ones(size, dtype=torch.float64, device=dev))
            source.append(torch.full((size,), -1, device=dev))
            continue
        partner.append(mix.partner)
        lam.append(mix.lam.to(dev))
        source.append(torch.full((size,), -1, device=dev) if mix.source is None else mix.source + x_start[piece.batch])
    return torch.cat(partner), torch.cat(lam), torch.cat(source)


def _predictor_sums(seg: Tensor, segments: int, logits: Tensor, kept_logits: Tensor, labels: Tensor,
                    partner: Tensor, lam: Tensor, source: Tensor) -> dict[str, Tensor]:
    """Per segment, the sums behind the teacher-side predictors (docs/method.md, "Teacher-side predictors").

    ``logits`` are the whole forward's (``source`` indexes them), ``kept_logits`` the booked rows'.
    """
    dev = seg.device
    logp = kept_logits.double().log_softmax(-1)
    own, other = labels[:, None], partner[:, None]
    ce = -(lam * logp.gather(1, own)[:, 0] + (1 - lam) * logp.gather(1, other)[:, 0])
    mass = lam * logp.gather(1, own)[:, 0].exp() + (1 - lam) * logp.gather(1, other)[:, 0].exp()
    top = kept_logits.argmax(1)
    hits = lam * (top == labels).double() + (1 - lam) * (top == partner).double()
    single = (source >= 0).nonzero().squeeze(1)
    logq = logits.index_select(0, source.index_select(0, single)).float().double().log_softmax(-1)
    kl = (logq.exp() * (logq - logp.index_select(0, single))).sum(1)

    def total(values: Tensor, rows: Tensor | None = None) -> Tensor:
        at = seg if rows is None else seg.index_select(0, rows)
        return torch.zeros(segments, dtype=torch.float64, device=dev).index_add_(0, at, values)

    return {"hits": total(hits), "ce": total(ce), "mass": total(mass), "kl": total(kl, single),
            "single": torch.bincount(seg.index_select(0, single), minlength=segments).double()}


def _inf_to_nan(t: Tensor) -> Tensor:
    return t.masked_fill_(torch.isinf(t), math.nan)


def _picks_vectorised(job: SchemeSlot) -> bool:
    """Whether the engine makes and scores ``job``'s pools itself: a picking scheme scored by one network."""
    scheme = job.scheme
    return scheme.picks and isinstance(job.scorer, nn.Module) and scheme.base.samples_then_applies


def _chunked(net: nn.Module, images: Tensor, rows: int) -> Tensor:
    return torch.cat([net(part) for part in images.split(rows)]) if images.shape[0] > rows else net(images)


def _row_bytes(teacher: nn.Module, image: Tensor) -> int:
    """Memory a teacher forward holds per image: CUDA measures it, the CPU takes 4x the widest activation."""
    if image.device.type == "cuda":
        sample = image.expand(256, *image.shape[1:]).contiguous()
        torch.cuda.synchronize(image.device)
        torch.cuda.reset_peak_memory_stats(image.device)
        before = torch.cuda.memory_allocated(image.device)
        teacher(sample)
        return max(1, (torch.cuda.max_memory_allocated(image.device) - before) // 256)
    widest = [0]

    def hook(_module, _args, out):
        if isinstance(out, Tensor):
            widest[0] = max(widest[0], out.numel() * out.element_size())

    handles = [m.register_forward_hook(hook) for m in teacher.modules() if not list(m.children())]
    try:
        teacher(image)
    finally:
        for handle in handles:
            handle.remove()
    # a layer's input and output, a residual branch and the shortcut can be alive at once
    return 4 * widest[0] + image.numel()


def _free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory up to ``CPU_KEEP_FREED_BYTES`` (once; not where MALLOC_* is set or no glibc)."""
    global _FREED_MEMORY_KEPT
    if _FREED_MEMORY_KEPT or any(k.startswith("MALLOC_") for k in os.environ):
        return
    _FREED_MEMORY_KEPT = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_TRIM_THRESHOLD, CPU_KEEP_FREED_BYTES)
    if not libc.mallopt(_M_MMAP_THRESHOLD, CPU_KEEP_FREED_BYTES):  # older glibc refuses more than 32 MiB
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 25)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_FREED_MEMORY_KEPT = False


def forward_rows(teacher: nn.Module, image: Tensor) -> int:
    """Rows per teacher forward for a probe of images like ``image`` [1, 3, H, W] on its device."""
    return _forward_rows(image.device, _row_bytes(teacher, image))


def _forward_rows(device: torch.device, row_bytes: int) -> int:
    if device.type == "cpu":
        return CPU_FORWARD_ROWS
    # half of the share for the forward's activations, the other half for the pass's rows
    return max(64, int(MEMORY_SHARE / 2 * _free_memory(device) // row_bytes))


def run(
    teacher: nn.Module,
    dataset: ImageTensorDataset,
    jobs: Sequence[SchemeSlot],
    *,
    base: Callable,
    stream: IndependentDraws | EpochStream,
    batches_per_unit: int,
    units_per_set: int,
    seed: int,
    max_units: int,
    check_every: int,
    controller: Callable[[EngineOutput], set[str]] | None = None,
    amp: bool = False,
    on_round: Callable[[EngineOutput], None] | None = None,
) -> EngineOutput:
    """Close rounds of ``check_every`` units (per rank) until ``controller`` returns no scheme or ``max_units``.

    A unit is ``batches_per_unit`` batches of ``stream``; ``units_per_set`` of them make a set.
    ``controller`` sees the units so far after each round and returns the names still to sample;
    None runs all schemes to ``max_units``. A Ctrl-C ends the run after the last complete round,
    flagged ``interrupted``.
    """
    names = [job.name for job in jobs]
    world = distributed.detect_world()
    records = UnitRecords.empty(len(jobs), dataset.num_classes)
    counts, active = dict.fromkeys(names, 0), set(names)
    start, interrupted = time.perf_counter(), False

    def output() -> EngineOutput:
        return EngineOutput(names, records, dict(counts), dataset.num_classes, time.perf_counter() - start,
                            interrupted, units_per_set)

    if dataset.device.type == "cpu":
        _keep_freed_memory()
    with torch.inference_mode():
        engine = _Engine(teacher, dataset, jobs, base=base, stream=stream, batches_per_unit=batches_per_unit,
                         seed=seed, amp=amp)
        try:
            while active and len(records) < max_units:
                first = len(records)
                last = min(max_units, first + world.size * check_every)
                block = _round(engine, range(first + world.rank, last, world.size), active, last - first, world)
                records = UnitRecords.cat([records, block])
                counts.update(dict.fromkeys(active, last))
                _raise_on_nonfinite(block, names)
                if on_round is not None:
                    on_round(output())
                if controller is not None:
                    active = controller(output()) & active
        except KeyboardInterrupt:
            interrupted = True
    return output()


def _round(engine: _Engine, mine: range, active: set[str], num_units: int, world: distributed.World) -> UnitRecords:
    """One round's records on the host, in unit order: this rank's units in passes, then every rank's."""
    per_pass = engine.units_per_pass(active)
    mine = list(mine)
    parts = [engine.compute(mine[i:i + per_pass], active) for i in range(0, len(mine), per_pass)]
    local = UnitRecords.cat(parts) if parts else UnitRecords.empty(len(engine.jobs), engine.c).map(
        lambda t: t.to(engine.device))
    return local.map(lambda t: distributed.gather_sets(t, num_units, world).cpu())


def _raise_on_nonfinite(block: UnitRecords, names: list[str]) -> None:
    bad = torch.cat([block.bad_batch_x[:, None], block.bad_batch_xprime], 1)  # [n, 1 + S]
    if not bool((~bad.isnan()).any()):
        return
    first = float(bad.nan_to_num(math.inf).min())
    slot = int((bad == first).nonzero()[0, 1])
    what = "x (the base augmentation)" if slot == 0 else f"x' of scheme {names[slot - 1]!r}"
    raise NumericalError(
        f"the teacher returned NaN or inf on {what} in batch {int(first)}; check the checkpoint's weights and "
        "the input normalisation (--mean/--std)"
    )
