"""``dastat info``: what this installation offers and whether the embedded default works."""

from __future__ import annotations

import argparse
import platform

from dastat.cli import common


def register(sub) -> None:
    p = common.add_command(sub, "info", _run,
                           help="list datasets, models and DA schemes; check the embedded teacher")
    common.add_device(p)
    common.add_store(p)


def _run(args: argparse.Namespace) -> int:
    import torch

    import dastat
    from dastat import augment, data, models
    from dastat import store as results_store
    from dastat.device import resolve_device
    from dastat.train.evaluate import evaluate
    from dastat.train.methods import list_methods

    device = resolve_device(args.device)
    test = data.load("digits", split="test")
    teacher = models.embedded_teacher(device=device)
    metrics = evaluate(teacher, test.to(device))
    report = {
        "version": dastat.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "store": str(results_store.default_path() if args.store is None else args.store),
        "datasets": data.list_datasets(),
        "schemes": augment.list_schemes(),
        "methods": list_methods(),
        "models": models.list_models(),
        "embedded_teacher": {
            "arch": teacher.arch,
            "file": str(models.EMBEDDED_TEACHER),
            "test_acc1": metrics["test_acc1"],
            "test_loss": metrics["test_loss"],
            "n_test": len(test),
        },
    }
    if args.json:
        common.print_json(report)
        return 0
    print(f"dastat {report['version']} (python {report['python']}, torch {report['torch']})")
    print(f"device        {report['device']} (CUDA available: {report['cuda_available']})")
    print(f"results store {report['store']}")
    print(f"datasets      {', '.join(report['datasets'])}")
    print(f"DA schemes    {', '.join(report['schemes'])}")
    print(f"KD methods    {', '.join(report['methods'])}")
    print(f"models        {', '.join(report['models'])}")
    t = report["embedded_teacher"]
    print(f"embedded teacher: {t['arch']} on digits, test top-1 {t['test_acc1']:.2f}% "
          f"(loss {t['test_loss']:.4f}, {t['n_test']} test images) — {t['file']}")
    return 0
