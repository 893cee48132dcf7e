"""``dastat bench train --cohort N``: aggregate student images/s of a cohort against the same runs alone.

The setting is the digits study's (docs/benchmarks.md): a resnet20 teacher distilled into resnet8
students at 16 px, B = 64, the nine schemes x three seeds (the first N of them, seed by seed); on CUDA
the paper's resnet56 -> resnet20 at 32 px in bf16. In one run the cohort's epoch and the same members'
epochs one after another (``distill``) alternate, ``repeats`` times each, and the best of each is kept
(the machine may be shared). Images/s count training images of all members over the epoch's wall time,
test evaluation included, for both; on the CPU (one epoch, model building included) the process's CPU
time is recorded too, the steadier measure on a shared machine, with the single-run step's CPU time by
part and the best ratio a cohort could reach from it (:mod:`dastat.bench.step_profile`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from dastat.constants import PAPER_SCHEMES

SCHEMES = PAPER_SCHEMES
SEEDS = (0, 1, 2)


def members(n: int) -> list[tuple[str, int]]:
    """The first ``n`` (scheme, seed) runs of the study grid, seed by seed."""
    grid = [(scheme, seed) for seed in SEEDS for scheme in SCHEMES]
    return grid[:n] if n <= len(grid) else [(s, seed) for seed in range(n // len(SCHEMES) + 1)
                                            for s in SCHEMES][:n]


def summary(result: dict) -> str:
    """The measurement as printed lines: images/s of both, their ratio, and the CPU breakdown with its bound."""
    from dastat.bench.step_profile import format_breakdown

    lines = [f"cohort of {len(result['members'])}: {result['images_per_s']['cohort']:.0f} img/s, alone "
             f"{result['images_per_s']['alone']:.0f} img/s ({result['cohort_vs_alone']:.2f}x wall, "
             f"{result['cohort_vs_alone_cpu_time']:.2f}x CPU time)"]
    if "solo_step_cpu_s" in result:
        lines.append(format_breakdown(result["solo_step_cpu_s"], len(result["members"]),
                                      len({m.split(":s")[-1] for m in result["members"]})))
    return "\n".join(lines)


def _setting(dev: torch.device):
    from dastat import data

    if dev.type == "cuda":
        train_set = data.load("synthetic", num_classes=100, num_images=50 * 64, image_size=32)
        test_set = data.load("synthetic", split="test", num_classes=100, num_images=256, image_size=32)
        return train_set, test_set, "resnet56", "resnet20", True
    train_set = data.load("digits", split="train", image_size=16)
    test_set = data.load("digits", split="test", image_size=16)
    return train_set, test_set, "resnet20", "resnet8", False


def run(device: str = "auto", quick: bool = False, out: str | Path = "results/bench/train_cohort.json",
        cohort: int = 27, repeats: int | None = None) -> dict:
    """Measure the cohort's and the separate runs' aggregate student images/s; write them to ``out``."""
    from dastat.device import resolve_device
    from dastat.train import inputs
    from dastat.train.cohort import distill_cohort
    from dastat.train.distill import distill

    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    repeats = repeats or (1 if quick else 2)
    runs = members(cohort)
    train_set, test_set, teacher_arch, student, amp = _setting(dev)
    teacher = inputs.as_classifier(teacher_arch, train_set, seed=0, role="teacher").to(dev).eval()
    # CPU: one epoch each (there is nothing to warm up); CUDA: two, the first pays cuDNN autotuning.
    epochs = 2 if dev.type == "cuda" else 1
    images = len(runs) * len(train_set)
    cohort_s, alone_s, cohort_cpu_s, alone_cpu_s = [], [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        results = distill_cohort(teacher, student, train_set, test_set, runs, epochs=epochs, device=str(dev), amp=amp)
        cohort_cpu_s.append(time.process_time() - c0)
        cohort_s.append(sum(r.curve[-1]["wall_s"] for r in results) if epochs > 1 else time.perf_counter() - t0)
        alone, alone_cpu = 0.0, 0.0
        for scheme, seed in runs:
            t0, c0 = time.perf_counter(), time.process_time()
            result = distill(teacher, student, train_set, test_set, scheme, seed=seed, epochs=epochs,
                             device=str(dev), amp=amp)
            alone_cpu += time.process_time() - c0
            alone += result.curve[-1]["wall_s"] if epochs > 1 else time.perf_counter() - t0
        alone_s.append(alone)
        alone_cpu_s.append(alone_cpu)
    result = {
        "target": "train_cohort",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "teacher": teacher_arch,
        "student": student,
        "dataset": train_set.name,
        "image_size": train_set.image_size,
        "batch_size": 64,
        "amp": amp,
        "members": [f"{s}:s{seed}" for s, seed in runs],
        "epochs_timed": 1,
        "repeats": repeats,
        "cohort_s": cohort_s,
        "alone_s": alone_s,
        "cohort_cpu_s": cohort_cpu_s,
        "alone_cpu_s": alone_cpu_s,
        "images_per_s": {"cohort": images / min(cohort_s), "alone": images / min(alone_s)},
        "cohort_vs_alone": min(alone_s) / min(cohort_s),
        # On a shared CPU the process's CPU time is the steadier measure of the work done.
        "images_per_cpu_s": {"cohort": images / min(cohort_cpu_s), "alone": images / min(alone_cpu_s)},
        "cohort_vs_alone_cpu_time": min(alone_cpu_s) / min(cohort_cpu_s),
        "quick": quick,
    }
    if dev.type == "cpu":
        from dastat.bench.step_profile import cohort_bound, solo_step_breakdown

        breakdown = solo_step_breakdown(teacher, student, train_set, runs[: len(SCHEMES)], steps=2 if quick else 4)
        groups = len({seed for _, seed in runs})
        result["solo_step_cpu_s"] = breakdown
        result["cohort_bound"] = cohort_bound(breakdown, len(runs), groups)
        result["notes"] = (
            f"Only the seed groups' data, crop+flip and teacher forward on x ({', '.join(breakdown['parts_shared'])}: "
            f"{100 * breakdown['shared_s'] / breakdown['step_s']:.0f}% of a single run's step) are shared; the "
            "students' forward and backward, compute-bound on the CPU, and every member's x' and teacher forward "
            f"on x' are not, so no cohort of {len(runs)} in {groups} seed groups exceeds "
            f"{result['cohort_bound']:.2f}x here.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result
