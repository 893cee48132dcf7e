"""Tiny data and models for the trainer's tests (imported by the test modules and the child scripts)."""

from __future__ import annotations

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
