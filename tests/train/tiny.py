"""Tiny data and models for the trainer's tests (imported by the test modules and the child scripts)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import torch

from dastat.data.dataset import ImageTensorDataset

SIZE = 16  # the CIFAR zoo pools globally away from 32 px, so 16-px images keep the tests fast


def toy_split(n: int, split: str, *, num_classes: int = 4, seed: int = 0) -> ImageTensorDataset:
    """Learnable toy data: the class sets the brightness of the image, plus noise."""
    g = torch.Generator().manual_seed(seed + (0 if split == "train" else 1000))
    labels = torch.arange(n) % num_classes
    noise = torch.randint(0, 60, (n, 3, SIZE, SIZE), generator=g)
    images = (noise + labels.view(-1, 1, 1, 1) * (190 // max(1, num_classes - 1))).clamp(0, 255).to(torch.uint8)
    return ImageTensorDataset(images, labels, [f"c{i}" for i in range(num_classes)], (0.4,) * 3, (0.25,) * 3,
                              "toy", split)


def toy_teacher(num_classes: int = 4, seed: int = 0):
    from dastat import models

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.create("resnet8", num_classes=num_classes, image_size=SIZE)
    return models.wrap(net, (0.4,) * 3, (0.25,) * 3, arch="resnet8").eval()


def pause_at(kill_at: str | None) -> Callable[[int, int], None]:
    """A child script's ``on_step``: at ``EPOCH,STEP`` print READY and wait for the parent's SIGKILL."""
    stop = tuple(int(v) for v in kill_at.split(",")) if kill_at else None

    def on_step(epoch: int, step: int) -> None:
        if (epoch, step) == stop:
            print("READY", flush=True)
            time.sleep(600)

    return on_step


def sigkill_when_ready(argv: list[str], env: dict[str, str]) -> int:
    """Start a child script, SIGKILL it once it prints READY (see :func:`pause_at`); its return code."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stdout:
            if line.strip() == "READY":
                break
        else:
            import pytest  # here, not at the top: the child scripts import this module too

            pytest.fail(f"child ended before the kill point: {child.stderr.read()}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    return child.returncode
