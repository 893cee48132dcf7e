"""``dastat bench probe``: what the probe costs, measured in one run on this machine (docs/benchmarks.md, "probe").

1. Engine efficiency, per scheme and teacher: the time the probe's network forwards take alone
   (teacher on the x and x' rows, plus the scorer's forwards on a picking scheme's pool;
   pre-made tensors, no augmentation, the same row count in forwards of the engine's size)
   divided by the wall time of ``probe.measure_scheme`` closing the same sets. Targets: >= 0.90,
   autoaugment >= 0.75.
   Random-weight resnet56 and resnet8 on synthetic CIFAR-100-shaped data.
2. Cost to a usable answer: the sets and teacher forwards protocol ``fast`` needs to reach a
   relative half-width of 0.02, on digits with the embedded teacher and on a 100-class learnable
   synthetic task with a briefly trained zoo teacher, against the paper protocol's 1,564 sets of
   640 rows on CIFAR-100 (target: <= 5% of its forwards for 100 classes).
3. Wall time of ``dastat rank`` with no arguments, run as a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat import augment, data, models
from dastat.bench.machine import load_average
from dastat.bench.targets import at_most
from dastat.checks import check_choice
from dastat.device import autocast, resolve_device
from dastat.models.inference import inference_copy
from dastat.probe import engine
from dastat.probe.measure import STUDENT_FREE, measure_scheme

# The paper protocol on CIFAR-100 (docs/method.md, "Protocols"): 10 epochs of 782 batches, a set every 5 batches.
PAPER_SETS = 1564
PAPER_ROWS_PER_SET = 640
PAPER_FORWARDS = PAPER_SETS * PAPER_ROWS_PER_SET  # 1,000,960 teacher forwards
TARGET_RTOL = 0.02
EFFICIENCY_TARGETS = {"autoaugment": 0.75}
EFFICIENCY_TARGET = 0.90
FORWARD_SHARE_TARGET = 0.05  # of the paper protocol's forwards, for 100 classes
RANK_WALL_TARGET_S = 60.0  # cold `dastat rank` with no arguments, 2 idle CPU cores
PARTS = ("efficiency", "cost", "rank")
_BATCH_SIZE = 64  # the protocol's B (docs/method.md, "Protocols")
_FAST_MIN_SETS = 20  # measure_scheme's default min_sets


@dataclass(frozen=True)
class Plan:
    """How much work each part does.

    ``FULL`` on a quiet 2-core CPU, estimated from runs on a loaded one: efficiency ~6 min
    (resnet56 ~5), cost ~5 min (training the 100-class teacher ~2), ``dastat rank`` ~6 min.
    ``run(parts=...)`` measures a part alone.
    """

    teachers: dict[str, int] = field(default_factory=lambda: {"resnet56": 2, "resnet8": 4})  # arch -> sets
    schemes: tuple[str, ...] = STUDENT_FREE
    set_blocks: int = 10
    repeats: int = 2  # alternating runs of the forwards alone and of the probe; the minimum of each counts
    digits_max_sets: int = 160
    digits_scheme: str = "cutout"
    synthetic_arch: str = "resnet8"
    synthetic_train_images: int = 5000
    synthetic_test_images: int = 1000
    synthetic_epochs: int = 4
    synthetic_max_sets: int = 160
    synthetic_schemes: tuple[str, ...] = ("cutout",)
    rank_args: tuple[str, ...] = ()


FULL = Plan()
QUICK = Plan(
    teachers={"resnet56": 2, "resnet8": 2}, set_blocks=2, repeats=1, digits_max_sets=24,
    synthetic_train_images=1000, synthetic_test_images=200, synthetic_epochs=1, synthetic_max_sets=24,
    synthetic_schemes=("cutout",), rank_args=("--max-sets", "4"),
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(fn: Callable[[], Any], device: torch.device) -> tuple[float, float, Any]:
    """Wall and process CPU seconds of ``fn()``, and what it returned."""
    _sync(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    value = fn()
    _sync(device)
    return time.perf_counter() - start, time.process_time() - start_cpu, value


# ---------------------------------------------------------------- 1. engine efficiency


def _forward_inputs(name: str, teacher: nn.Module, dataset, fill) -> tuple[Tensor, Tensor | None]:
    """One batch's teacher input (x and x' concatenated) and, for a picking scheme, its scorer's pool."""
    scheme = augment.get(name, image_size=dataset.image_size, fill=fill)
    x = dataset.images[:_BATCH_SIZE]
    g = torch.Generator(device=dataset.device).manual_seed(0)
    scorer = teacher if scheme.scorer else None
    with torch.inference_mode():
        x_prime = scheme(x, generator=g, scorer=scorer)
    # [B + B', 3, H, W], as the engine's single forward (x alone where x' is x or was scored in the pool)
    reused = engine.reuses_x(scheme) or engine.reuses_pool(scheme, scorer, teacher)
    rows = x if reused else torch.cat([x, x_prime])
    pool = None
    if scheme.scorer:
        pool = torch.cat([x] * scheme.pool_factor)  # [pool_factor * B, 3, H, W]: what the scorer sees
    return rows, pool


def _forwards_alone(teacher: nn.Module, rows: Tensor, pool: Tensor | None, num_batches: int,
                    device: torch.device) -> Callable[[], None]:
    """The probe's teacher rows for ``num_batches`` batches, in forwards of the engine's size.

    Pass the engine's own network (``inference_copy`` of the teacher) for the engine's baseline.
    """
    stacked = torch.cat([rows] + ([] if pool is None else [pool])).repeat(num_batches, 1, 1, 1)
    with torch.inference_mode():
        size = engine.forward_rows(teacher, rows[:1])

    def run() -> None:
        with torch.inference_mode(), autocast(device, device.type == "cuda"):
            for part in stacked.split(size):
                teacher(part)

    return run


def _efficiency(arch: str, num_sets: int, plan: Plan, device: torch.device) -> list[dict]:
    batches_per_set = plan.set_blocks // 2
    num_batches = num_sets * batches_per_set
    # A multiple of B: every batch is full, so the forwards alone use one batch shape.
    dataset = data.load("synthetic", num_classes=100, num_images=_BATCH_SIZE * max(num_batches, 10),
                        image_size=32, seed=0).to(device)
    net = models.create(arch, num_classes=100, image_size=32)
    teacher = models.wrap(net, dataset.mean, dataset.std, arch=arch).to(device).eval()
    fill = augment.fill_colour(teacher, dataset)
    fast = inference_copy(teacher)  # what the engine forwards: BatchNorm folded, channels-last
    options = dict(max_sets=num_sets, min_sets=num_sets, rtol=1e-9, set_blocks=plan.set_blocks, device=device,
                   amp=device.type == "cuda", seed=0)
    # Warm-up: first-call allocations and kernel selection belong to neither side.
    measure_scheme(teacher, dataset, "identity", **{**options, "max_sets": 2, "min_sets": 2, "set_blocks": 2})
    rows_out = []
    for name in plan.schemes:
        rows, pool = _forward_inputs(name, teacher, dataset, fill)
        alone = _forwards_alone(fast, rows, pool, num_batches, device)
        plain = _forwards_alone(teacher, rows, pool, num_batches, device)
        alone_s, plain_s, probe_s, engine_s, alone_cpu, probe_cpu, result = [], [], [], [], [], [], None
        for _ in range(plan.repeats):
            plain_s.append(_seconds(plain, device)[0])
            wall, cpu, _ = _seconds(alone, device)
            alone_s.append(wall)
            alone_cpu.append(cpu)
            wall, cpu, result = _seconds(lambda name=name: measure_scheme(teacher, dataset, name, **options), device)
            probe_s.append(wall)
            probe_cpu.append(cpu)
            engine_s.append(result.elapsed_s)
        target = EFFICIENCY_TARGETS.get(name, EFFICIENCY_TARGET)
        ratio = min(alone_s) / min(probe_s)
        forwards_alone = num_batches * (rows.shape[0] + (0 if pool is None else pool.shape[0]))
        rows_out.append({
            "teacher": arch,
            "scheme": name,
            "n_sets": result.n_sets,
            "n_batches": num_batches,
            "n_teacher_forwards": result.n_teacher_forwards,
            "n_forwards_alone": forwards_alone,
            "forwards_match": forwards_alone == result.n_teacher_forwards,
            "forwards_alone_s": min(alone_s),
            "probe_wall_s": min(probe_s),
            "probe_engine_s": min(engine_s),
            "forwards_alone_s_all": alone_s,
            # the teacher as loaded, before the engine folds it: what the inference copy saves per forward
            "plain_forwards_s": min(plain_s),
            "inference_copy_speedup": min(plain_s) / min(alone_s),
            "probe_wall_s_all": probe_s,
            "ratio": ratio,
            "probe_images_per_s": result.n_teacher_forwards / min(probe_s),
            "alone_images_per_s": forwards_alone / min(alone_s),
            "ratio_median": statistics.median(alone_s) / statistics.median(probe_s),
            # the engine's loop alone, without the call's input checks and result summary
            "ratio_engine_loop": min(alone_s) / min(engine_s),
            # CPU seconds of this process: less swayed than wall time by other work on a shared machine
            # (CPU only: on CUDA the forwards run asynchronously to the host)
            "ratio_cpu": min(alone_cpu) / min(probe_cpu),
            "target": target,
            "met": ratio >= target,
        })
    return rows_out


# ---------------------------------------------------------------- 2. cost to a usable answer


def _cost(task: str, teacher: nn.Module, dataset, scheme: str, max_sets: int, device: torch.device,
          extra: dict) -> dict:
    start = time.perf_counter()
    result = measure_scheme(teacher, dataset, scheme, rtol=TARGET_RTOL, max_sets=max_sets, device=device,
                      amp=device.type == "cuda", seed=0)
    wall = time.perf_counter() - start
    rel = result.rel_halfwidth
    # Below fast's min_sets the interval is not trusted to stop on, so neither is it here.
    converged = rel <= TARGET_RTOL and result.n_sets >= _FAST_MIN_SETS
    # The half-width shrinks as 1/sqrt(M): M sets at rel r need M (r / rtol)^2 for rtol.
    needed = result.n_sets if converged else max(result.n_sets, math.ceil(result.n_sets * (rel / TARGET_RTOL) ** 2))
    per_set = result.n_teacher_forwards / result.n_sets
    forwards = needed * per_set
    paper_sets_here = 10 * math.ceil(len(dataset) / _BATCH_SIZE) // 5  # protocol 'paper' on this data
    return {
        "task": task,
        "scheme": scheme,
        "num_classes": dataset.num_classes,
        "n_images": len(dataset),
        "rtol": TARGET_RTOL,
        "sets_run": result.n_sets,
        "rel_halfwidth_reached": rel,
        "how": "measured" if converged else "extrapolated: half-width ∝ 1/sqrt(sets) from the sets run",
        "sets_needed": needed,
        "teacher_forwards_per_set": per_set,
        "teacher_forwards_needed": forwards,
        "share_of_paper_forwards": forwards / PAPER_FORWARDS,
        "paper_forwards": PAPER_FORWARDS,
        # What the paper protocol's own sets buy at this variance: on CIFAR-100 (1,564 sets) and
        # on this data (10 epochs).
        "rel_halfwidth_at_paper_sets": rel * math.sqrt(result.n_sets / PAPER_SETS),
        "paper_protocol_sets_on_this_data": paper_sets_here,
        "rel_halfwidth_at_paper_protocol_on_this_data": rel * math.sqrt(result.n_sets / paper_sets_here),
        "t_stddev": result.t_stddev,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "floor": result.floor,
        "t_stddev_rel": result.t_stddev_rel,
        "teacher_acc_x": result.teacher_acc_x,
        "probe_wall_s": wall,
        **extra,
    }


def _cost_digits(plan: Plan, device: torch.device) -> dict:
    dataset = data.load("digits")
    teacher = models.embedded_teacher(device=device)
    return _cost("digits, embedded teacher", teacher, dataset, plan.digits_scheme, plan.digits_max_sets, device,
                 {"teacher": teacher.arch})


def _cost_synthetic(plan: Plan, device: torch.device) -> list[dict]:
    from dastat import train

    common = dict(num_classes=100, image_size=32, learnable=True, seed=0)
    train_set = data.load("synthetic", split="train", num_images=plan.synthetic_train_images, **common)
    test_set = data.load("synthetic", split="test", num_images=plan.synthetic_test_images, **common)
    start = time.perf_counter()
    fitted = train.fit(plan.synthetic_arch, train_set, test_set, epochs=plan.synthetic_epochs, seed=0,
                       device=device)
    training = {
        "teacher": plan.synthetic_arch,
        "train_epochs": plan.synthetic_epochs,
        "train_images": len(train_set),
        "teacher_test_acc1": fitted.record["test_acc1"],
        "teacher_test_loss": fitted.record["test_loss"],
        "train_s": time.perf_counter() - start,
    }
    teacher = fitted.model.eval()
    return [_cost("synthetic 100-class learnable, trained zoo teacher", teacher, train_set, scheme,
                  plan.synthetic_max_sets, device, training)
            for scheme in plan.synthetic_schemes]


# ---------------------------------------------------------------- 3. dastat rank


def _rank_wall(plan: Plan, device: torch.device) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "dastat", "rank", "--no-record", "--json", "--plot",
                   str(Path(tmp) / "rank.png"), *plan.rank_args]
        if device.type != "cpu":
            command += ["--device", str(device)]
        load_before = load_average()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp,
                              env={**os.environ, "DASTAT_STORE": str(Path(tmp) / "store.sqlite")})
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row: dict[str, Any] = {
        "command": "dastat rank --no-record --json" + "".join(f" {a}" for a in plan.rank_args),
        "wall_s": wall,
        # the child's user + system seconds: steadier than wall time where the machine's speed varies
        "cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "returncode": done.returncode,
        "load_average_1min": [load_before, load_average()],
        "cpu_count": os.cpu_count(),
    }
    if done.returncode != 0:
        row["stderr_tail"] = done.stderr[-2000:]
        return row
    ranking = json.loads(done.stdout)["ranking"]
    row["ranking"] = [{k: r[k] for k in ("rank", "scheme", "t_stddev", "ci_low", "ci_high", "n_sets",
                                         "t_stddev_rel", "significant")} for r in ranking]
    row["max_sets_run"] = max(r["n_sets"] for r in ranking)
    return row


# ---------------------------------------------------------------- the report


def _targets(report: dict) -> list[dict]:
    rows = []
    for row in report.get("efficiency", []):
        rows.append({"what": f"engine efficiency {row['teacher']} {row['scheme']}", "target": f">= {row['target']}",
                     "value": row["ratio"], "met": row["met"]})
    for row in report.get("cost", []):
        if row["num_classes"] >= 100:
            rows.append(at_most(f"share of paper forwards, {row['task']}, {row['scheme']}",
                                row["share_of_paper_forwards"], FORWARD_SHARE_TARGET))
    rank = report.get("rank") or {}
    if report.get("device") == "cpu" and rank.get("returncode") == 0 and not report["plan"]["rank_args"]:
        rows.append(at_most(f"no-argument rank wall, {rank['cpu_count']} CPU cores", rank["wall_s"],
                            RANK_WALL_TARGET_S, " s on 2 cores"))
    return rows


def run(device: str = "auto", quick: bool = False, out: str | Path = "results/bench/probe.json", *,
        parts: Sequence[str] = PARTS, plan: Plan | None = None) -> dict:
    """Measure the probe's engine efficiency, its cost to rtol 0.02 and ``dastat rank``; write JSON.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` (bf16 autocast on CUDA, for probe and baseline alike).
    quick : bool
        Few sets, one batch a set, a one-epoch teacher and ``dastat rank --max-sets 4``: a smoke
        run whose numbers are not for reporting.
    out : path
        Where the JSON goes (its folder is created).
    parts : sequence of {"efficiency", "cost", "rank"}
        Which measurements to make (default all three).
    plan : Plan, optional
        Sizes of the work; overrides ``quick`` (``FULL`` and ``QUICK`` are the presets).

    Returns
    -------
    dict
        ``{"bench": "probe", "device", "threads", "load_average_1min", "plan", "efficiency": [...],
        "cost": [...], "rank": {...}, "targets": [...], "notes": [...]}``; the parts not run are absent.
    """
    parts = [check_choice(p, "parts", PARTS) for p in parts]
    resolved = resolve_device(device)
    plan = plan or (QUICK if quick else FULL)
    load_before = load_average()
    start = time.perf_counter()
    report: dict[str, Any] = {
        "bench": "probe",
        "device": str(resolved),
        "device_name": torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else platform.processor()
        or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "quick": quick,
        "torch": torch.__version__,
        "plan": {**asdict(plan), "schemes": list(plan.schemes)},
    }
    if "efficiency" in parts:
        report["efficiency"] = [row for arch, num_sets in plan.teachers.items()
                                for row in _efficiency(arch, num_sets, plan, resolved)]
    if "cost" in parts:
        report["cost"] = [_cost_digits(plan, resolved), *_cost_synthetic(plan, resolved)]
    if "rank" in parts:
        report["rank"] = _rank_wall(plan, resolved)
    report["targets"] = _targets(report)
    report["notes"] = [
        "efficiency ratio = (teacher forwards alone on pre-made tensors, the same rows in forwards of the engine's "
        "size, plus the scorer's forwards on a picking scheme's pool) / (wall time of probe.measure_scheme closing "
        "the same sets); the minimum of the alternating repeats of each side is used; ratio_engine_loop leaves out "
        "the call's input checks and result summary; ratio_cpu compares this process's CPU seconds "
        "instead of wall seconds (on a shared CPU it is the steadier figure)",
        f"the paper protocol on CIFAR-100 closes {PAPER_SETS} sets of {PAPER_ROWS_PER_SET} rows "
        f"(= {PAPER_FORWARDS} teacher forwards), and also runs the student forward and backward on every "
        "step (its probe runs are training runs with learning rate 0); dastat runs no student at all",
        "fast stops at a round of check_every = 8 sets once min_sets = 20 are done, so measured set counts "
        "are multiples of 8",
        "CPU timings depend on other work on the machine: see load_average_1min",
    ]
    report["elapsed_s"] = time.perf_counter() - start
    # other work on the machine skews CPU timings: the 1-minute load before and after the run
    report["load_average_1min"] = [load_before, load_average()]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    return report
