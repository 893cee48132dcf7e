"""``dastat bench gpu``: every GPU figure the docs name, in one run (docs/benchmarks.md, "GPU figures").

On CIFAR-100-shaped synthetic data (100 classes, 32 px, learnable, 50,000 training images) with a
briefly trained resnet56 teacher, bf16 autocast:

1. ``inference_copy``: the probe's inference copy (BatchNorm folded, channels-last) against the teacher
   on CUDA, for the trained teacher and a few zoo networks (target: logits within 1e-4 of the largest).
2. ``paper``: the paper protocol for one scheme (10 epochs, 1,564 sets, 1,000,960 teacher forwards;
   target <= 5 s), and its teacher images/s against the same network's forwards alone at their best
   batch size (target >= 0.8).
3. ``rank``: ``probe.rank`` of the 8 student-free schemes at rtol 0.02 (target <= 2 s).
4. ``probe``: ``dastat bench probe``'s engine efficiency and a cold ``dastat rank`` with no arguments
   (target <= 8 s wall).
5. ``train`` and ``cohort``: ``dastat bench train`` (trainer images/s against its floor and a
   reference-style loop) and ``dastat bench train --cohort 27``.

The parts call the other benchmarks' own functions; their reports are kept whole in the one JSON.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dastat import data, models, probe
from dastat.bench import cohort as cohort_bench
from dastat.bench import probe as probe_bench
from dastat.bench import train as train_bench
from dastat.bench.machine import load_average
from dastat.bench.targets import at_least, at_most
from dastat.checks import check_choice
from dastat.device import autocast, resolve_device
from dastat.errors import InvalidArgumentError
from dastat.models.inference import inference_copy
from dastat.probe.measure import measure_scheme

PARTS = ("inference_copy", "paper", "rank", "probe", "train", "cohort")
PAPER_WALL_TARGET_S = 5.0
RANK_WALL_TARGET_S = 2.0
COLD_RANK_WALL_TARGET_S = 8.0
IMAGES_PER_S_TARGET = 0.8  # probe teacher images/s over the forwards alone at their best batch size
COPY_TOLERANCE = 1e-4  # of the largest logit: float32 rounding only (tests/models/test_gpu.py)


@dataclass(frozen=True)
class Plan:
    """How much work each part does.

    ``FULL`` is sized to finish in about 10 minutes on one H100/H200-class GPU; that is an estimate
    from the CPU runs and the earlier H200 figures, not a measurement. ``run(parts=...)`` measures a
    part alone.
    """

    arch: str = "resnet56"
    image_size: int = 32
    num_images: int = 50_000  # CIFAR-100's training split: the paper protocol then closes 1,564 sets
    teacher_epochs: int = 2
    teacher_batch_size: int = 256
    paper_scheme: str = "cutmix"
    paper_epochs: int = 10  # the paper protocol's epochs (docs/method.md, "Protocols")
    rank_rtol: float = 0.02
    rank_schemes: tuple[str, ...] | str = "all"  # "all": the 8 student-free schemes
    rank_max_sets: int | None = None  # None: the probe's default cap
    forward_sizes: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192)
    forward_images: int = 65_536  # per batch size, for the forwards-alone rate
    copy_archs: tuple[str, ...] = ("resnet56", "wrn_40_2", "resnet32x4", "vgg13", "MobileNetV2", "ShuffleV2")
    probe: probe_bench.Plan = field(default_factory=lambda: probe_bench.FULL)
    cohort: int = 27
    cohort_repeats: int = 1  # the cohort part is the longest: one alternation of cohort and runs alone


FULL = Plan()
QUICK = Plan(
    arch="resnet8", image_size=16, num_images=960, teacher_epochs=1, teacher_batch_size=64, paper_epochs=1,
    rank_max_sets=4, forward_sizes=(64, 256), forward_images=512, copy_archs=("resnet8",), probe=probe_bench.QUICK,
    cohort=2,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _wall(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    _sync(device)
    start = time.perf_counter()
    value = fn()
    _sync(device)
    return time.perf_counter() - start, value


def _check_device(device: str, quick: bool) -> torch.device:
    """CUDA, or the CPU for ``--quick`` only: the suite's figures mean nothing elsewhere."""
    if not quick and not torch.cuda.is_available():
        raise InvalidArgumentError(
            "the gpu target measures the GPU figures and needs CUDA, which is not available here; run it on a "
            "machine with a GPU, or add --quick for a smoke run of the same code on the CPU")
    resolved = resolve_device(device)
    if not quick and resolved.type != "cuda":
        raise InvalidArgumentError(
            f"the gpu target measures on CUDA; --device {device} is for a --quick smoke run only. "
            "Leave --device out or pass --device cuda")
    return resolved


# ---------------------------------------------------------------- 1. the inference copy


def _copy_error(teacher: nn.Module, size: int, device: torch.device) -> dict:
    x = torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    fast = inference_copy(teacher, x)
    # TF32 off: cuDNN otherwise rounds inputs to 10-bit mantissas (~1e-3 relative), hiding the fold's error.
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        got, want = fast(x).float(), teacher(x).float()
    error = ((got - want).abs().max() / want.abs().max()).item()
    return {"folded": fast is not teacher, "max_error_rel": error, "target": f"<= {COPY_TOLERANCE}",
            "met": error <= COPY_TOLERANCE}


def _inference_copies(plan: Plan, teacher: nn.Module, device: torch.device) -> list[dict]:
    rows = [{"arch": f"{plan.arch} (trained teacher)", **_copy_error(teacher, plan.image_size, device)}]
    for arch in plan.copy_archs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = models.wrap(models.create(arch, num_classes=100, image_size=plan.image_size), (0.5, 0.5, 0.5),
                              (0.25, 0.25, 0.25), arch=arch)
        rows.append({"arch": arch, **_copy_error(net.to(device).eval(), plan.image_size, device)})
    return rows


# ---------------------------------------------------------------- 2-3. the teacher's probes


def _teacher(plan: Plan, device: torch.device) -> tuple[nn.Module, Any, dict]:
    from dastat import train

    common = dict(num_classes=100, image_size=plan.image_size, learnable=True, seed=0)
    train_set = data.load("synthetic", split="train", num_images=plan.num_images, **common)
    test_set = data.load("synthetic", split="test", num_images=max(plan.num_images // 50, 64), **common)
    wall, fitted = _wall(lambda: train.fit(plan.arch, train_set, test_set, epochs=plan.teacher_epochs,
                                           batch_size=plan.teacher_batch_size, seed=0, device=str(device),
                                           amp=device.type == "cuda"), device)
    record = {"arch": plan.arch, "train_images": len(train_set), "epochs": plan.teacher_epochs,
              "test_acc1": fitted.record["test_acc1"], "test_loss": fitted.record["test_loss"], "train_s": wall}
    return fitted.model.eval(), train_set.to(device), record


def _forwards_alone(teacher: nn.Module, plan: Plan, device: torch.device) -> dict:
    """Images/s of the engine's network (the inference copy) alone, per batch size, on pre-made uint8 rows."""
    fast = inference_copy(teacher)
    rates = {}
    for size in plan.forward_sizes:
        x = torch.randint(0, 256, (size, 3, plan.image_size, plan.image_size), dtype=torch.uint8, device=device)
        steps = max(plan.forward_images // size, 1)

        def forwards(x=x, steps=steps) -> None:
            with torch.inference_mode(), autocast(device, device.type == "cuda"):
                for _ in range(steps):
                    fast(x)

        with torch.inference_mode(), autocast(device, device.type == "cuda"):
            fast(x)  # warm-up: kernel selection and allocation for this shape
        rates[size] = steps * size / _wall(forwards, device)[0]
    best = max(rates, key=rates.get)
    return {"images_per_s": {str(k): v for k, v in rates.items()}, "best_batch_size": best,
            "best_images_per_s": rates[best]}


def _paper(plan: Plan, teacher: nn.Module, dataset, device: torch.device) -> dict:
    amp = device.type == "cuda"
    # Warm-up: first-call allocations and kernel selection belong to no timing.
    measure_scheme(teacher, dataset, plan.paper_scheme, max_sets=3, min_sets=3, device=device, amp=amp, seed=0)
    wall, result = _wall(lambda: measure_scheme(teacher, dataset, plan.paper_scheme, protocol="paper",
                                                epochs=plan.paper_epochs, device=device, amp=amp, seed=0), device)
    alone = _forwards_alone(teacher, plan, device)
    images_per_s = result.n_teacher_forwards / wall
    ratio = images_per_s / alone["best_images_per_s"]
    return {
        "scheme": plan.paper_scheme, "epochs": plan.paper_epochs, "n_sets": result.n_sets,
        "n_teacher_forwards": result.n_teacher_forwards, "wall_s": wall, "t_stddev": result.t_stddev,
        "images_per_s": images_per_s, "forwards_alone": alone, "vs_forwards_alone": ratio,
    }


def _rank(plan: Plan, teacher: nn.Module, dataset, device: torch.device) -> dict:
    options: dict[str, Any] = {"rtol": plan.rank_rtol, "device": device, "amp": device.type == "cuda", "seed": 0}
    if plan.rank_max_sets is not None:
        options.update(max_sets=plan.rank_max_sets, min_sets=min(3, plan.rank_max_sets))
    # Warm-up: every scheme's first call (autoaugment imports torchvision then) belongs to no timing.
    probe.rank(teacher, dataset, plan.rank_schemes, **{**options, "max_sets": 3, "min_sets": 3})
    wall, ranking = _wall(lambda: probe.rank(teacher, dataset, plan.rank_schemes, **options), device)
    table = ranking.table
    return {"rtol": plan.rank_rtol, "wall_s": wall, "schemes": list(table["scheme"]),
            "n_sets": [int(n) for n in table["n_sets"]]}


# ---------------------------------------------------------------- the report


def _targets(report: dict, plan: Plan) -> list[dict]:
    rows = [{"what": f"inference copy on {report['device']}, {row['arch']}", "target": row["target"],
             "value": row["max_error_rel"], "met": row["met"]} for row in report.get("inference_copy", [])]
    paper = report.get("paper")
    if paper:
        rows.append(at_most(f"paper protocol, {paper['n_teacher_forwards']} teacher forwards, {plan.arch}",
                            paper["wall_s"], PAPER_WALL_TARGET_S, " s"))
        rows.append(at_least("probe teacher images/s / forwards alone at their best batch size",
                             paper["vs_forwards_alone"], IMAGES_PER_S_TARGET))
    if report.get("rank"):
        rank = report["rank"]
        rows.append(at_most(f"rank of {len(rank['schemes'])} schemes at rtol {rank['rtol']}", rank["wall_s"],
                            RANK_WALL_TARGET_S, " s"))
    cold = (report.get("probe") or {}).get("rank") or {}
    if cold.get("returncode") == 0 and not plan.probe.rank_args:  # the target is the no-argument rank
        rows.append(at_most(f"cold `{cold['command']}`", cold["wall_s"], COLD_RANK_WALL_TARGET_S, " s wall"))
    return rows


def run(device: str = "auto", quick: bool = False, out: str | Path = "results/bench/gpu.json", *,
        parts: Sequence[str] = PARTS, plan: Plan | None = None) -> dict:
    """Measure every GPU figure of docs/benchmarks.md, "GPU figures"; write them to ``out`` as one JSON.

    Parameters
    ----------
    device : str
        ``"auto"`` or ``"cuda[:N]"``; ``"cpu"`` only with ``quick``.
    quick : bool
        A tiny plan (resnet8, 960 images, one epoch, two cohort members) that runs on the CPU too: a
        smoke run of the same code, whose numbers are not for reporting.
    out : path
        The JSON file (its folder is created).
    parts : sequence of {"inference_copy", "paper", "rank", "probe", "train", "cohort"}
        Which measurements to make (default all).
    plan : Plan, optional
        Sizes of the work; overrides ``quick`` (``FULL`` and ``QUICK`` are the presets).

    Returns
    -------
    dict
        ``{"bench": "gpu", "device", "device_name", "plan", "<part>": ..., "targets": [...],
        "elapsed_s": {part: seconds}}``; the parts not run are absent.

    Raises
    ------
    InvalidArgumentError
        Without CUDA unless ``quick``; for an unknown part.
    """
    parts = [check_choice(p, "parts", PARTS) for p in parts]
    resolved = _check_device(device, quick)
    plan = plan or (QUICK if quick else FULL)
    if resolved.type == "cuda":
        torch.backends.cudnn.benchmark = True
    report: dict[str, Any] = {
        "bench": "gpu",
        "device": str(resolved),
        "device_name": torch.cuda.get_device_name(resolved) if resolved.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "quick": quick,
        "plan": {**asdict(replace(plan, probe=None)), "probe": asdict(plan.probe)},
        "load_average_1min": [load_average()],
        "elapsed_s": {},
    }

    out = Path(out)

    def measure(name: str, fn: Callable[[], Any]) -> None:
        start = time.perf_counter()
        report[name] = fn()
        report["elapsed_s"][name] = time.perf_counter() - start
        _write(report, out)  # after every part: a run cut short keeps what it measured

    if {"inference_copy", "paper", "rank"} & set(parts):
        start = time.perf_counter()
        teacher, dataset, report["teacher"] = _teacher(plan, resolved)
        report["elapsed_s"]["teacher"] = time.perf_counter() - start
        for name, fn in (("inference_copy", lambda: _inference_copies(plan, teacher, resolved)),
                         ("paper", lambda: _paper(plan, teacher, dataset, resolved)),
                         ("rank", lambda: _rank(plan, teacher, dataset, resolved))):
            if name in parts:
                measure(name, fn)
    with tempfile.TemporaryDirectory() as tmp:  # the other benchmarks' own files: kept whole in this one
        others = {
            "probe": lambda: probe_bench.run(device=str(resolved), quick=quick, out=Path(tmp) / "probe.json",
                                             parts=("efficiency", "rank"), plan=plan.probe),
            "train": lambda: train_bench.run(device=str(resolved), quick=quick, out=Path(tmp) / "train.json"),
            "cohort": lambda: cohort_bench.run(device=str(resolved), quick=quick, out=Path(tmp) / "train_cohort.json",
                                               cohort=plan.cohort, repeats=plan.cohort_repeats),
        }
        for name, fn in others.items():
            if name in parts:
                measure(name, fn)
    report["targets"] = _targets(report, plan)
    report["load_average_1min"].append(load_average())
    _write(report, out)
    return report


def _write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
