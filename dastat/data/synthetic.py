"""``synthetic``: seeded images and labels of any shape, for tests and benchmarks.

Labels are balanced (``i % num_classes``, then shuffled). With ``learnable=False`` the pixels are
uniform noise, unrelated to the labels. With ``learnable=True`` every class has a template (a
random 4x4 colour pattern, bilinearly upsampled), shared by both splits, and each image is its
class's template plus Gaussian noise of stddev ``noise`` (on 0..255), so a network can learn the
task; this is what probe benchmarks use for 100 classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dastat.checks import check_float, check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS
from dastat.rng import stream


@DATASETS.register("synthetic")
def synthetic(
    root=None,
    split: str = "train",
    image_size: int | None = None,
    seed: int = 0,
    *,
    num_classes: int = 10,
    num_images: int = 512,
    learnable: bool = False,
    noise: float = 48.0,
) -> ImageTensorDataset:
    """Seeded synthetic images; ``image_size`` defaults to 32. See the module docstring."""
    size = check_int(image_size or 32, "image_size", low=1)
    num_classes = check_int(num_classes, "num_classes", low=1)
    n = check_int(num_images, "num_images", low=1)
    noise = check_float(noise, "noise", low=0)
    g = stream(seed, f"synthetic:{split}")
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]
    if learnable:
        # The templates come from a split-independent stream: train and test share them.
        gt = stream(seed, "synthetic:templates")
        coarse = torch.rand(num_classes, 3, 4, 4, generator=gt) * 255
        templates = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        pixels = templates[labels] + noise * torch.randn(n, 3, size, size, generator=g)
        images = pixels.round().clamp(0, 255).to(torch.uint8)
    else:
        images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    mean, std = channel_stats(images)
    return ImageTensorDataset(
        images=images,
        labels=labels,
        classes=[f"class{c}" for c in range(num_classes)],
        mean=mean,
        std=std,
        name="synthetic",
        split=split,
        source={
            "seed": seed,
            "num_classes": num_classes,
            "num_images": n,
            "image_size": size,
            "learnable": bool(learnable),
            "noise": noise if learnable else None,
        },
    )
