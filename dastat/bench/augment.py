"""``dastat bench augment``: images/s of every scheme against the baselines a user would otherwise have.

Baselines, measured in the same run on the same batch: torchvision v2 applied image by image
in a Python loop (per-sample randomness the torchvision way), timm's ``Mixup`` in per-element
mode for mixup/cutmix, a plain ``clone()`` (the memory-bound floor) and a resnet56 forward
pass. Targets (docs/benchmarks.md, "Targets"), on the CPU at 32 px: >= 10x the loop for flip,
flip_crop, cutout; >= 5x timm for mixup/cutmix; >= 3x the loop for autoaugment; every scheme but
autoaugment <= 10% of a resnet56 forward (picking schemes timed with a free scorer: their forwards
are teacher work).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dastat.augment.scheme import get
from dastat.bench.machine import load_average
from dastat.bench.targets import at_least, at_most
from dastat.device import resolve_device

BATCH_SIZE = 256
SIZES = (32, 64)
SCHEMES = ("identity", "flip", "crop", "flip_crop", "cutout", "autoaugment", "mixup", "cutmix",
           "cutmixpick_t", "cutmixpick_s")
_LOOP_TARGETS = {"flip": 10.0, "flip_crop": 10.0, "cutout": 10.0, "autoaugment": 3.0}
_TIMM_TARGETS = {"mixup": 5.0, "cutmix": 5.0}
_FORWARD_SHARE = 0.10


def _timer(device: torch.device) -> Callable[[Callable[[], Any], int], float]:
    def seconds_per_call(fn: Callable[[], Any], repeats: int) -> float:
        fn()  # warm-up: first-call allocations and kernel selection
        times = []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return seconds_per_call


def _free_scorer(images: torch.Tensor) -> torch.Tensor:
    return images[:, :, 0, :10].float().mean(1)  # logits [B, 10] at almost no cost


def _torchvision_loops(size: int, fill: tuple[int, int, int]) -> dict[str, Callable]:
    from torchvision.transforms import v2

    pad, side = size // 8, size // 4
    policy = v2.AutoAugmentPolicy.CIFAR10 if size <= 32 else v2.AutoAugmentPolicy.IMAGENET
    erase_scale = side * side / (size * size)
    return {
        "flip": v2.RandomHorizontalFlip(),
        "crop": v2.RandomCrop(size, padding=pad),
        "flip_crop": v2.Compose([v2.RandomCrop(size, padding=pad), v2.RandomHorizontalFlip()]),
        # the closest torchvision has to Cutout: a square erase of the same area (not clipped at borders)
        "cutout": v2.RandomErasing(p=1.0, scale=(erase_scale, erase_scale), ratio=(1.0, 1.0), value=list(fill)),
        "autoaugment": v2.AutoAugment(policy),
    }


def _timm_mixers() -> dict[str, Callable]:
    try:
        from timm.data import Mixup
    except ImportError:  # timm is a dev extra; without it the timm baselines are left out
        return {}
    common = {"mode": "elem", "label_smoothing": 0.0, "num_classes": 100}
    return {
        "mixup": Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, **common),
        "cutmix": Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, **common),
    }


def _measure_size(size: int, device: torch.device, quick: bool, seconds_per_call) -> dict:
    g_data = torch.Generator().manual_seed(size)
    images = torch.randint(0, 256, (BATCH_SIZE, 3, size, size), generator=g_data, dtype=torch.uint8).to(device)
    labels = torch.randint(0, 100, (BATCH_SIZE,), generator=g_data).to(device)
    fill = (129, 124, 112)
    reps, loop_reps = (3, 1) if quick else (20, 3)
    per_s = BATCH_SIZE

    floor_s = seconds_per_call(images.clone, reps)
    from dastat.models import create

    net = create("resnet56", num_classes=100, image_size=size).to(device).eval()

    def forward():
        with torch.inference_mode():
            net(images.float().div_(255))

    forward_s = seconds_per_call(forward, max(2, reps // 4))
    result: dict[str, Any] = {
        "floor_clone": {"s_per_batch": floor_s, "images_per_s": per_s / floor_s},
        "resnet56_forward": {"s_per_batch": forward_s, "images_per_s": per_s / forward_s},
        "schemes": {},
    }
    loops = _torchvision_loops(size, fill)
    mixers = _timm_mixers()
    generator = torch.Generator(device=device).manual_seed(0)
    for name in SCHEMES:
        scheme = get(name, image_size=size, fill=fill)
        scorer = _free_scorer if scheme.scorer else None
        scheme_s = seconds_per_call(lambda scheme=scheme, scorer=scorer: scheme(images, generator, scorer), reps)
        row: dict[str, Any] = {
            "s_per_batch": scheme_s,
            "images_per_s": per_s / scheme_s,
            "times_floor": scheme_s / floor_s,
            "share_of_resnet56_forward": scheme_s / forward_s,
        }
        if name in loops:
            transform = loops[name]
            loop_s = seconds_per_call(lambda t=transform: torch.stack([t(image) for image in images]), loop_reps)
            row.update(baseline="torchvision_v2_per_image_loop", baseline_images_per_s=per_s / loop_s,
                       speedup=loop_s / scheme_s)
        elif name in mixers:
            mixer, images_f32 = mixers[name], images.float()
            timm_s = seconds_per_call(lambda m=mixer, x=images_f32: m(x.clone(), labels), loop_reps)
            row.update(baseline="timm_mixup_elem", baseline_images_per_s=per_s / timm_s, speedup=timm_s / scheme_s)
        result["schemes"][name] = row
    return result


def _targets(sizes: dict) -> list[dict]:
    """Each target and whether it was met; a target whose baseline was not measured (no timm) is left out."""
    rows = []
    schemes = sizes["32"]["schemes"]
    for name, target in {**_LOOP_TARGETS, **_TIMM_TARGETS}.items():
        value = schemes[name].get("speedup")
        if value is None:
            continue
        rows.append({"scheme": name, "image_size": 32,
                     **at_least(f"speedup vs {schemes[name].get('baseline')}", value, target, "x")})
    for name, row in schemes.items():
        if name != "autoaugment":
            rows.append({"scheme": name, "image_size": 32,
                         **at_most("share of a resnet56 forward", row["share_of_resnet56_forward"], _FORWARD_SHARE)})
    return rows


def run(device: str = "auto", quick: bool = False, out: str | Path = "results/bench/augment.json",
        threads: int | None = None) -> dict:
    """Measure every scheme at B = 256 on 32- and 64-px data; write the JSON file at ``out``.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    quick : bool
        Fewer repetitions (a smoke run, not for reporting).
    out : path
        Where the JSON goes (its folder is created).
    threads : int or None
        torch CPU threads during the run (restored after); None keeps the current setting.

    Returns
    -------
    dict
        ``{"device", "threads", "batch_size", "sizes": {"32": {...}, "64": {...}}, "targets": [...],
        "left_out": [...]}``: ``left_out`` says which baselines could not be measured, and why.
    """
    resolved = resolve_device(device)
    load_before = load_average()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        seconds_per_call = _timer(resolved)
        sizes = {str(size): _measure_size(size, resolved, quick, seconds_per_call) for size in SIZES}
    finally:
        torch.set_num_threads(previous_threads)
    report = {
        "bench": "augment",
        "device": str(resolved),
        "device_name": torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else platform.processor()
        or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads or previous_threads,
        # other work on the machine skews CPU timings: the 1-minute load before and after the run
        "load_average_1min": [load_before, load_average()],
        "batch_size": BATCH_SIZE,
        "quick": quick,
        "torch": torch.__version__,
        "sizes": sizes,
        "targets": _targets(sizes),
        "left_out": [] if _timm_mixers() else [f"{name}: timm is not installed, so its baseline (and the target "
                                               "against it) is left out" for name in _TIMM_TARGETS],
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report
