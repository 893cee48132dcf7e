"""``dastat bench train``: images/s of the trainer against the compute floor and a reference-style loop.

In one run on one machine (resnet56 teacher -> resnet20 student, synthetic CIFAR-100-shaped data,
B = 64, scheme cutmix):
(a) floor: the teacher's forward on x and x' and the student's two forward+backward passes and SGD step
    on pre-made batches already on the device (no data path at all);
(b) dastat: :func:`dastat.train.distill` (data resident as uint8, augmentation on the device);
(c) reference: a torch DataLoader with per-image torchvision transforms (crop + flip, ToTensor,
    Normalize) in 2 worker processes, CutMix drawn once per batch on the host (as the paper's code),
    the same teacher, student and loss.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

BATCH = 64
NUM_CLASSES = 100


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _models(device, amp):
    from dastat import models

    mean, std = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        teacher = models.wrap(models.create("resnet56", NUM_CLASSES), mean, std, arch="resnet56").to(device).eval()
    return teacher, mean, std


def _floor(teacher, mean, std, device, steps, amp) -> float:
    from dastat import models
    from dastat.train.loss import kd_loss
    from dastat.train.schedule import make_optimizer

    student = models.wrap(models.create("resnet20", NUM_CLASSES), mean, std, arch="resnet20").to(device).train()
    opt = make_optimizer(student.parameters(), 0.05)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, 256, (BATCH, 3, 32, 32), generator=g, device=device, dtype=torch.uint8)
    xp = torch.randint(0, 256, (BATCH, 3, 32, 32), generator=g, device=device, dtype=torch.uint8)
    y = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g, device=device)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if amp else torch.autocast(device.type, enabled=False)

    def step():
        with ctx:
            with torch.inference_mode():
                t = teacher(torch.cat([x, xp]))
            t = t.clone()
            loss = kd_loss(student(x), t[:BATCH], y, student(xp), t[BATCH:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * BATCH / (time.perf_counter() - t0)


def _dastat(teacher, device, n_images, amp) -> float:
    from dastat import data
    from dastat.train.distill import distill

    train_set = data.load("synthetic", num_classes=NUM_CLASSES, num_images=n_images, image_size=32)
    test_set = data.load("synthetic", split="test", num_classes=NUM_CLASSES, num_images=BATCH, image_size=32)
    # Two epochs: the first pays one-off costs (cuDNN autotuning, allocator); the second is timed.
    result = distill(teacher, "resnet20", train_set, test_set, "cutmix", epochs=2, device=str(device), amp=amp)
    return n_images / result.curve[-1]["wall_s"]


class _PILSet(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images.permute(0, 2, 3, 1).numpy(), labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def _reference(teacher, mean, std, device, n_images, amp) -> float:
    import numpy as np
    from torchvision import transforms as T

    from dastat import data, models
    from dastat.train.loss import kd_loss
    from dastat.train.schedule import make_optimizer

    train_set = data.load("synthetic", num_classes=NUM_CLASSES, num_images=n_images, image_size=32)
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(_PILSet(train_set.images, train_set.labels, tf), batch_size=BATCH,
                                         shuffle=True, num_workers=2, pin_memory=device.type == "cuda",
                                         persistent_workers=True)
    # The network takes normalised floats here, as in the reference code: bypass the wrapper's Normalize.
    student = models.create("resnet20", NUM_CLASSES).to(device).train()
    net_t = teacher.net
    opt = make_optimizer(student.parameters(), 0.05)
    rng = np.random.default_rng(0)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if amp else torch.autocast(device.type, enabled=False)

    def epoch() -> int:
        seen = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            lam = rng.beta(1.0, 1.0)  # CutMix drawn once per batch on the host, as the reference code
            h = w = 32
            cut = int(h * np.sqrt(1 - lam))
            cy, cx = rng.integers(h), rng.integers(w)
            y1, y2, x1, x2 = (np.clip(cy - cut // 2, 0, h), np.clip(cy + cut // 2, 0, h),
                              np.clip(cx - cut // 2, 0, w), np.clip(cx + cut // 2, 0, w))
            xp = x.clone()
            xp[:, :, y1:y2, x1:x2] = x[torch.randperm(len(x), device=device)][:, :, y1:y2, x1:x2]
            with ctx:
                with torch.no_grad():
                    t_x, t_xp = net_t(x), net_t(xp)
                loss = kd_loss(student(x), t_x, y, student(xp), t_xp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(x)
        _sync(device)
        return seen

    epoch()  # warm-up: worker start, cuDNN autotuning
    t0 = time.perf_counter()
    seen = epoch()
    return seen / (time.perf_counter() - t0)


def run(device: str = "auto", quick: bool = False, out: str | Path = "results/bench/train.json") -> dict:
    """Measure (a) floor, (b) dastat, (c) reference-style images/s; write them to ``out`` as JSON."""
    from dastat.device import resolve_device

    dev = resolve_device(device)
    amp = dev.type == "cuda"
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    n_images = (8 if quick else 40) * BATCH if dev.type == "cpu" else (40 if quick else 400) * BATCH
    steps = n_images // BATCH
    teacher, mean, std = _models(dev, amp)
    floor = _floor(teacher, mean, std, dev, steps, amp)
    ours = _dastat(teacher, dev, n_images, amp)
    reference = _reference(teacher, mean, std, dev, n_images, amp)
    result = {
        "target": "train",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "torch_threads": torch.get_num_threads(),
        "teacher": "resnet56",
        "student": "resnet20",
        "scheme": "cutmix",
        "batch_size": BATCH,
        "images_per_epoch": n_images,
        "amp": amp,
        "quick": quick,
        "images_per_s": {"floor": floor, "dastat": ours, "reference": reference},
        "dastat_vs_floor": ours / floor,
        "dastat_vs_reference": ours / reference,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result
