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

from dastat.bench.machine import load_average
from dastat.constants import CIFAR100
from dastat.device import autocast

BATCH = 64
NUM_CLASSES = 100


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _models(device, amp):
    from dastat import models

    mean, std = CIFAR100
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
    ctx = autocast(device, amp)

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
    ctx = autocast(device, amp)

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


# --- per-method throughput (``dastat bench train --method NAME ...``) ---------------------------------
METHOD_PAIR = ("resnet32x4", "resnet8x4")  # RepDistiller's published pair for every method
N_DATA = 50_000  # CIFAR-100's training set: the size of CRD's memory


def _method_setup(name: str, teacher, x, labels_all, device, options):
    from dastat import models
    from dastat.train.methods import PairShapes, build_term
    from dastat.train.schedule import make_optimizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        student = models.wrap(models.create(METHOD_PAIR[1], NUM_CLASSES), teacher.mean, teacher.std,
                              arch=METHOD_PAIR[1]).to(device)
        with torch.no_grad():
            student.eval()
            shapes = PairShapes([f.shape for f in student(x[:2], is_feat=True)[0]],
                                [f.shape for f in teacher(x[:2], is_feat=True)[0]], labels_all, METHOD_PAIR[1])
        term = build_term(name, shapes, options.get(name))
    student.train()
    if term is not None:
        term = term.to(device).train()
    params = list(student.parameters()) + ([p for p in term.parameters() if p.requires_grad] if term else [])
    return student, (term if term is not None and term.has_term else None), make_optimizer(params, 0.05)


def _method_step(teacher, student, term, optimizer, x, xp, y, index, generator, amp, beta):
    from dastat.train.loss import distillation_loss

    ctx = autocast(x.device, amp)
    with ctx:
        if term is None:  # plain KD's step, as distill runs it
            with torch.inference_mode():
                t = teacher(torch.cat([x, xp]))
            t = t.clone()
            loss = distillation_loss(student(x), t[:BATCH], y, student(xp), t[BATCH:])
        else:
            with torch.inference_mode():
                feat_t, t = teacher(torch.cat([x, xp]), is_feat=True, preact=term.preact)
            feat_t, t = [f[:BATCH].clone() for f in feat_t], t.clone()
            feat_s, logits_s = student(x, is_feat=True, preact=term.preact)
            loss = distillation_loss(logits_s, t[:BATCH], y, student(xp), t[BATCH:], beta=beta, term=term,
                                     feat_s=feat_s, feat_t=feat_t, index=index, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _crd_memory_share(term, device, steps: int, rounds: int, step_s: float) -> dict:
    """Seconds per step of CRD's negative sampling + memory scoring/update (forward and backward) alone."""
    crd, draw = term.crd, term.negatives
    g = torch.Generator(device=device).manual_seed(0)
    dim = crd.embed_s.linear.out_features
    v1 = torch.nn.functional.normalize(torch.randn(BATCH, dim, generator=g, device=device), dim=1).requires_grad_()
    v2 = torch.nn.functional.normalize(torch.randn(BATCH, dim, generator=g, device=device), dim=1).requires_grad_()
    index = torch.randint(crd.n_data, (BATCH,), generator=g, device=device)

    def once():
        out_v1, out_v2 = crd.contrast(v1, v2, index, draw(index, g))
        (out_v1.sum() + out_v2.sum()).backward()

    once()
    best = float("inf")
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            once()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / steps)
    return {"memory_and_sampling_s": best, "crd_step_s": step_s, "share_of_step": best / step_s,
            "nce_k": crd.nce_k, "feat_dim": dim, "n_data": crd.n_data}


def run_methods(names: list[str], *, device: str = "auto", quick: bool = False,
                out: str | Path = "results/bench/train_methods.json") -> dict:
    """Images/s of one distillation step per method against plain KD, resnet32x4 -> resnet8x4, B = 64.

    Every method's step is the trainer's (teacher forward on x and x' with ``is_feat``, two student
    forwards, the composed loss, backward, SGD over the student and the method's modules) on pre-made
    uint8 batches, so only the method's own cost differs. Methods are timed in interleaved rounds
    (kd first in each) and each keeps its best round. With ``crd`` the share of its step spent in
    negative sampling and the memory (scoring and momentum update) is measured as well.
    AB and FSP add nothing to the step after their pre-training stage (their rate is plain KD's).
    """
    from dastat import models
    from dastat.device import resolve_device
    from dastat.train.methods import get_method

    dev = resolve_device(device)
    amp = dev.type == "cuda"
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    names = ["kd", *[n for n in dict.fromkeys(names) if n != "kd"]]
    for name in names:
        get_method(name)  # unknown names fail before any work
    steps, rounds = (2, 2) if quick else ((3, 3) if dev.type == "cpu" else (20, 5))
    mean, std = CIFAR100
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        teacher = models.wrap(models.create(METHOD_PAIR[0], NUM_CLASSES), mean, std, arch=METHOD_PAIR[0])
    teacher = teacher.to(dev).eval()
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randint(0, 256, (BATCH, 3, 32, 32), generator=g, device=dev, dtype=torch.uint8)
    xp = torch.randint(0, 256, (BATCH, 3, 32, 32), generator=g, device=dev, dtype=torch.uint8)
    y = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g, device=dev)
    labels_all = torch.arange(N_DATA, device=dev) % NUM_CLASSES
    index = torch.randperm(N_DATA, generator=g, device=dev)[:BATCH]
    runs = {}
    for name in names:
        student, term, optimizer = _method_setup(name, teacher, x, labels_all, dev, {})
        beta = get_method(name).beta
        args = (teacher, student, term, optimizer, x, xp, y, index, g, amp, beta)
        _method_step(*args)  # warm-up: allocator, cuDNN autotuning
        runs[name] = (args, float("inf"))
    cpu_s = dict.fromkeys(names, float("inf"))
    load_start = load_average()
    for _ in range(rounds):
        for name in names:
            args, best = runs[name]
            _sync(dev)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                _method_step(*args)
            _sync(dev)
            runs[name] = (args, min(best, (time.perf_counter() - t0) / steps))
            cpu_s[name] = min(cpu_s[name], (time.process_time() - c0) / steps)
    step_s = {name: best for name, (_, best) in runs.items()}
    result = {
        "target": "train_methods",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "torch_threads": torch.get_num_threads(),
        "teacher": METHOD_PAIR[0], "student": METHOD_PAIR[1], "batch_size": BATCH, "amp": amp, "quick": quick,
        "steps_per_round": steps, "rounds": rounds,
        "images_per_s": {name: BATCH / s for name, s in step_s.items()},
        "vs_kd": {name: step_s["kd"] / s for name, s in step_s.items()},
        # CPU seconds of the process per step: on a shared machine the wall clock moves with the other load,
        # the work a step does much less (the figures to compare there)
        "cpu_s_per_step": cpu_s if dev.type == "cpu" else None,
        "vs_kd_cpu": {name: cpu_s["kd"] / c for name, c in cpu_s.items()} if dev.type == "cpu" else None,
        "load_average_1min": [load_start, load_average()],
    }
    if "crd" in runs:
        result["crd_memory"] = _crd_memory_share(runs["crd"][0][2], dev, steps, rounds, step_s["crd"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result
