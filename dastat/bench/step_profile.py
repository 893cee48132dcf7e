"""Where a single run's training step spends its time, and the best speed-up a cohort could reach from it.

A cohort shares, per seed group, the image order, the standard crop+flip x and the teacher's forward
on x; every member still needs its own x', the teacher's forward on x', its scheme's scoring and its
student's forward, backward and SGD step (its own weights on its own images). On a CPU, where those
run at the arithmetic rate whatever the batch, fusing the students saves call overhead only; the
bound below therefore counts the student's work as not shared (docs/benchmarks.md, "Cohort training").
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dastat.data.dataset import ImageTensorDataset
from dastat.rng import stream
from dastat.train import inputs
from dastat.train.distill import scheme_of, scorer_for
from dastat.train.loss import kd_loss
from dastat.train.schedule import default_lr, make_optimizer

PARTS = ("data", "base_augment", "teacher_x", "scheme", "teacher_x_prime", "student_forward_backward",
         "optimizer")
SHARED = ("data", "base_augment", "teacher_x")  # done once per seed group in a cohort


def solo_step_breakdown(teacher: nn.Module, student: str, train_set: ImageTensorDataset,
                        runs: Sequence[tuple[Any, int]], *, batch_size: int = 64, steps: int = 4) -> dict[str, Any]:
    """Process CPU seconds per training step of single runs, by part, averaged over ``runs``.

    Each run takes ``steps`` steps of the ``distill`` recipe (after one untimed step) on the CPU, the
    parts timed one by one with ``time.process_time`` (the steady measure on a shared machine). The
    teacher scores x and x' in two calls here (one in ``distill``; its rows do not depend on the batch).

    Returns
    -------
    dict
        ``per_step_s`` (part -> seconds), ``step_s`` (their sum), ``shared_s`` (the parts a cohort does
        once per seed group) and ``parts_shared``.
    """
    teacher = teacher.cpu().eval()
    augment = inputs.standard_augment(train_set.image_size)
    totals = dict.fromkeys(PARTS, 0.0)
    timed = 0
    for scheme, seed in runs:
        model = inputs.as_classifier(student, train_set, seed=seed, role="student").cpu().train()
        aug = scheme_of(scheme, train_set, teacher)
        scorer = scorer_for(aug, teacher, model)
        optimizer = make_optimizer(model.parameters(), default_lr(model.arch))
        gens = {name: stream(seed, name, torch.device("cpu")) for name in ("order", "base", "scheme")}
        order = torch.randperm(len(train_set), generator=gens["order"])
        for step, index in enumerate(order.split(batch_size)[: steps + 1]):
            marks = [time.process_time()]
            images, labels = train_set.images[index], train_set.labels[index]
            marks.append(time.process_time())
            x = augment(images, generator=gens["base"])
            marks.append(time.process_time())
            with torch.inference_mode():
                logits_t_x = teacher(x)
            marks.append(time.process_time())
            with torch.no_grad():
                x_prime = aug(x, generator=gens["scheme"], scorer=scorer)
            marks.append(time.process_time())
            with torch.inference_mode():
                logits_t_xp = teacher(x_prime)
            marks.append(time.process_time())
            loss = kd_loss(model(x), logits_t_x.clone(), labels, model(x_prime), logits_t_xp.clone())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            marks.append(time.process_time())
            optimizer.step()
            marks.append(time.process_time())
            if step == 0:
                continue  # the first step pays one-off allocations
            timed += 1
            for part, t0, t1 in zip(PARTS, marks, marks[1:]):
                totals[part] += t1 - t0
    per_step = {part: s / max(timed, 1) for part, s in totals.items()}
    return {"per_step_s": per_step, "step_s": sum(per_step.values()),
            "shared_s": sum(per_step[p] for p in SHARED), "parts_shared": list(SHARED)}


def cohort_bound(breakdown: dict[str, Any], members: int, groups: int) -> float:
    """The best ratio of a cohort's images/s to the same runs one after another, from ``breakdown``.

    Sharing is perfect and costs nothing: each of ``groups`` seed groups pays the shared parts once, each
    of the ``members`` pays the rest.
    """
    step, shared = breakdown["step_s"], breakdown["shared_s"]
    return members * step / (members * (step - shared) + groups * shared)


def format_breakdown(breakdown: dict[str, Any], members: int, groups: int) -> str:
    """The breakdown as printed lines: each part's ms per step and share, then the bound."""
    step = breakdown["step_s"]
    lines = [f"single-run step, CPU time by part ({step * 1e3:.1f} ms per step):"]
    for part, s in breakdown["per_step_s"].items():
        tag = "  shared in a cohort" if part in breakdown["parts_shared"] else ""
        lines.append(f"  {part:<26}{s * 1e3:8.2f} ms {100 * s / step:5.1f}%{tag}")
    lines.append(f"best cohort/alone ratio with {members} members in {groups} seed groups: "
                 f"{cohort_bound(breakdown, members, groups):.2f}x")
    return "\n".join(lines)
