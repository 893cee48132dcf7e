"""``dastat info``: what this installation offers, whether the embedded default works, and the store's state."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from pathlib import Path

from dastat.cli import common


def register(sub) -> None:
    p = common.add_command(sub, "info", _run,
                           help="list datasets, models and DA schemes; check the embedded teacher and the store")
    common.add_device(p)
    common.add_store(p)
    p.add_argument("--recheck", action="store_true",
                   help="evaluate the embedded teacher again (otherwise once per teacher file, torch version and "
                   "device kind, then read from $DASTAT_CACHE/info)")


def _run(args: argparse.Namespace) -> int:
    import torch

    import dastat
    from dastat import augment, data, models
    from dastat.device import resolve_device
    from dastat.train.methods import list_methods

    store = _store_state(args.store)  # checked first, as the reading commands check it
    device = resolve_device(args.device)
    teacher = models.embedded_teacher(device=device)
    report = {
        "version": dastat.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "store": store,
        "datasets": data.list_datasets(),
        "schemes": augment.list_schemes(),
        "methods": list_methods(),
        "models": models.list_models(),
        "embedded_teacher": {"arch": teacher.arch, "file": str(models.EMBEDDED_TEACHER),
                             **_teacher_metrics(teacher, device, recheck=args.recheck)},
    }
    if args.json:
        common.print_json(report)
        return 0
    print(f"dastat {report['version']} (python {report['python']}, torch {report['torch']})")
    print(f"device        {report['device']} (CUDA available: {report['cuda_available']})")
    print(f"results store {_store_line(store)}")
    print(f"datasets      {', '.join(report['datasets'])}")
    print(f"DA schemes    {', '.join(report['schemes'])}")
    print(f"KD methods    {', '.join(report['methods'])}")
    print(f"models        {', '.join(report['models'])}")
    t = report["embedded_teacher"]
    when = f"; evaluated {t['evaluated_at']}, --recheck to evaluate again" if t["cached"] else ""
    print(f"embedded teacher: {t['arch']} on digits, test top-1 {t['test_acc1']:.2f}% "
          f"(loss {t['test_loss']:.4f}, {t['n_test']} test images{when}) — {t['file']}")
    return 0


def _store_state(given: str | None) -> dict:
    """The store opened read-only and counted; a --store that is missing, not a store or corrupt is refused
    (the default store not existing yet is a state, not an error)."""
    from dastat import store as results_store

    path = results_store.default_path() if given is None else Path(given)
    if given is None and not path.exists():
        return {"path": str(path), "exists": False}
    with results_store.open(path, readonly=True) as db:
        return {"path": str(path), "exists": True, "schema_version": db.schema_version,
                "n_probes": len(db.probes()), "n_students": len(db.students())}


def _store_line(store: dict) -> str:
    if not store["exists"]:
        return f"{store['path']} (not created yet: rank, probe, ingest or train --record create it)"
    return (f"{store['path']} ({store['n_probes']} probe results, {store['n_students']} student runs, "
            f"schema {store['schema_version']})")


def _teacher_metrics(teacher, device, *, recheck: bool) -> dict:
    """The embedded teacher's test metrics, evaluated once per teacher file, torch version and device kind and
    then read from the cache (an evaluation took most of `info`'s time); a cache that cannot be written is
    skipped."""
    import torch

    from dastat import data, models
    from dastat.data import default_cache_dir
    from dastat.train.evaluate import evaluate

    digest = hashlib.sha256(Path(models.EMBEDDED_TEACHER).read_bytes()).hexdigest()[:16]
    cache = default_cache_dir() / "info" / f"embedded_teacher_{digest}_torch{torch.__version__}_{device.type}.json"
    if not recheck and cache.is_file():
        try:
            return {**json.loads(cache.read_text()), "cached": True}
        except (OSError, ValueError):
            pass  # unreadable: evaluate again and rewrite it
    from datetime import datetime, timezone

    test = data.load("digits", split="test")
    metrics = evaluate(teacher, test.to(device))
    entry = {"test_acc1": metrics["test_acc1"], "test_loss": metrics["test_loss"], "n_test": len(test),
             "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(entry))
        partial.replace(cache)
    except OSError:
        pass
    return {**entry, "cached": False}
