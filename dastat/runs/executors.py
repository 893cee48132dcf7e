"""Running jobs: one job or one cohort in this process, and a plan through an executor (local, submitit, Slurm).

Training jobs that differ only in scheme and seed (same teacher, student, dataset, epochs and options) are
trained together as cohorts (:func:`dastat.train.distill_cohort`), at most the plan's ``cohort_size`` per
process (default: as many as fit the device's free memory, see :func:`dastat.train.cohort.fit_cohort_size`);
``cohort_size: 1`` trains each job alone. Each job records its result to its ``store`` where it ran.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import json
import os
import traceback
from pathlib import Path
from typing import Any

from dastat.errors import DastatError
from dastat.runs.jobs import Job
from dastat.runs.record import open_store, record_probes, record_runs


def _load_teacher(job: Job, train_set):
    from dastat import models

    if job.teacher == "embedded":
        return models.embedded_teacher()
    return models.load_teacher(job.teacher, dataset=train_set)


def _load(job: Job, split: str):
    from dastat import data

    only_train = job.train_options if split == "train" else {}
    return data.load(job.dataset, root=job.root, split=split, image_size=job.image_size, **job.data_options,
                     **only_train)


def _failure(job: Job, err: Exception) -> dict[str, Any]:
    tail = traceback.format_exc().strip().splitlines()[-3:]
    return {"job": job.name, "status": "failed", "error": f"{type(err).__name__}: {err} ({' | '.join(tail)})",
            "result": None}


def run_job(job: Job) -> dict[str, Any]:
    """Run one job in this process and record it; returns ``{"job", "status", "error", "result"}``, never raises."""
    try:
        db = open_store(job.store)  # a bad store fails before the compute
        train_set = _load(job, "train")
        teacher = _load_teacher(job, train_set)
        if job.kind == "probe":
            from dastat import probe

            result = probe.measure_scheme(teacher, train_set, job.scheme, seed=job.seed, **job.options)
            record_probes(db, [result])
            return {"job": job.name, "status": "ok", "error": None, "result": result.to_dict()}
        from dastat.train import distill

        out_dir = Path(job.out_dir)
        run = distill(teacher, job.student, train_set, _load(job, "test"), job.scheme, method=job.method,
                      method_options=job.method_options or None, epochs=job.epochs, epoch_factor=job.epoch_factor,
                      seed=job.seed, out_dir=out_dir, resume=(out_dir / "checkpoint.pt").exists(), **job.options)
        record_runs(db, [run])
        return {"job": job.name, "status": "ok", "error": None, "result": run.to_dict()}
    except DastatError as err:
        return {"job": job.name, "status": "failed", "error": str(err), "result": None}
    except Exception as err:  # one failing job must not stop the others: report it with its traceback tail
        return _failure(job, err)


def plan_cohorts(jobs: list[Job], cohort_size: int | None = None, *, by_seed: bool = False) -> list[tuple[Job, ...]]:
    """Group the training jobs into cohorts: same teacher, student, dataset, epochs and options.

    Groups keep the jobs' order and are cut into pieces of at most ``cohort_size`` (no limit: None);
    probe jobs, and jobs of a method other than plain KD (cohorts train the KD loss only), stay alone.
    ``by_seed`` also parts them by seed: on the CPU, where every member runs its own kernels, a cohort
    shares only the work of one seed (its image order, x and the teacher's forward on x), so cohorts of one
    seed lose nothing and give the workers pieces of even size (see :func:`cohorts_by_seed`).
    """
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        if job.kind != "train" or cohort_size == 1 or job.method != "kd" or job.method_options:
            groups[f"alone:{len(groups)}"] = [job]
            continue
        key = json.dumps([job.teacher, job.student, job.dataset, job.root, job.image_size, job.data_options,
                          job.train_options, job.epoch_factor, job.epochs, job.options, job.store,
                          job.seed if by_seed else None], sort_keys=True, default=str)
        groups.setdefault(key, []).append(job)
    size = cohort_size or max((len(g) for g in groups.values()), default=1)
    return [tuple(g[i:i + size]) for g in groups.values() for i in range(0, len(g), size)]


def cohorts_by_seed(jobs: list[Job], executor: str) -> bool:
    """Whether cohorts should be parted by seed: jobs run here (``local``) on the CPU.

    On CUDA a larger cohort is one larger kernel per layer (fusion is the gain), and on a cluster the
    device of the nodes is not known here, so only local CPU cohorts are parted.
    """
    if executor != "local":
        return False
    from dastat.device import resolve_device

    devices = {str(j.options.get("device", "auto")) for j in jobs if j.kind == "train"}
    return bool(devices) and all(resolve_device(d).type == "cpu" for d in devices)


def run_cohort(jobs: tuple[Job, ...], cohort_size: int | None = None, *, position: int | None = None
               ) -> list[dict[str, Any]]:
    """Run a cohort of training jobs in this process (one job: :func:`run_job`) and record them; never raises.

    Without ``cohort_size`` the cohort is cut to what fits the device's free memory
    (:func:`dastat.train.cohort.fit_cohort_size`) and the pieces run one after another. With the jobs'
    ``progress`` option each piece shows one :class:`dastat.train.CohortBar`, on terminal line ``position``
    (cohorts that train side by side stack their bars).
    """
    if len(jobs) == 1:
        return [run_job(jobs[0])]
    try:
        from dastat.train.cohort import distill_cohort, fit_cohort_size

        job = jobs[0]
        db = open_store(job.store)
        train_set, test_set = _load(job, "train"), _load(job, "test")
        teacher = _load_teacher(job, train_set)
        options = dict(job.options)
        size = cohort_size or fit_cohort_size(teacher, job.student, train_set, len(jobs),
                                              device=options.get("device", "auto"),
                                              batch_size=options.get("batch_size", 64),
                                              amp=bool(options.get("amp", False)))
        outcomes = []
        for start in range(0, len(jobs), size):
            piece = jobs[start:start + size]
            results = distill_cohort(teacher, job.student, train_set, test_set, [(j.scheme, j.seed) for j in piece],
                                     epochs=job.epochs, epoch_factor=job.epoch_factor,
                                     out_dirs=[Path(j.out_dir) for j in piece], resume=True, position=position,
                                     **options)
            record_runs(db, results)
            for j, result in zip(piece, results):
                error = result.extra.get("error")
                outcomes.append({"job": j.name, "status": "failed" if error else "ok", "error": error,
                                 "result": None if error else result.to_dict()})
        return outcomes
    except DastatError:
        # A job the cohort refuses (an unknown scheme, a scheme of its own batch size): each job alone
        # reports its own error, and the others still run.
        return [run_job(j) for j in jobs]
    except Exception as err:  # one failing cohort must not stop the others
        return [_failure(j, err) for j in jobs]


def _call(function, *args):
    """``function(*args)``: lets a pool map partials that differ per item (a cohort's bar position)."""
    return function(*args)


def _share_cores(jobs: int) -> None:
    """Worker initializer: ``jobs`` concurrent CPU runs split the cores instead of each taking them all."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // jobs))


def make_executor(kind: str, jobs: int, folder: Path, slurm: dict[str, Any]):
    """The executor of ``kind``: None (run here, one after another), a process pool or a submitit executor."""
    if kind == "local":
        if jobs == 1:
            return None
        return cf.ProcessPoolExecutor(max_workers=jobs, initializer=_share_cores, initargs=(jobs,))
    import submitit

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "debug":
        return submitit.DebugExecutor(folder=folder)
    if kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=int(slurm.get("timeout_min", 60)))
        return executor
    executor = submitit.AutoExecutor(folder=folder)
    executor.update_parameters(**slurm)
    return executor


def execute(cohorts: list[tuple[Job, ...]], *, executor: str = "local", jobs: int = 1,
            folder: Path = Path("runs/sweep/submitit"), slurm: dict[str, Any] | None = None,
            cohort_size: int | None = None) -> list[dict[str, Any]]:
    """Run the cohorts through ``executor`` (at most ``jobs`` at once locally); one outcome per job, in order."""
    width = min(jobs, len(cohorts))
    pool = make_executor(executor, width, folder, dict(slurm or {}))
    run = functools.partial(run_cohort, cohort_size=cohort_size)
    if pool is None:
        return [o for cohort in cohorts for o in run(cohort)]
    if isinstance(pool, cf.Executor):
        with pool:
            placed = [functools.partial(run, position=i % width) for i in range(len(cohorts))]
            return [o for done in pool.map(_call, placed, cohorts) for o in done]
    submitted = [pool.submit(run, cohort) for cohort in cohorts]
    outcomes = []
    for cohort, handle in zip(cohorts, submitted):
        try:
            outcomes.extend(handle.result())
        except Exception as err:  # the Slurm job itself died (timeout, node failure)
            outcomes.extend({"job": job.name, "status": "failed", "error": f"{type(err).__name__}: {err}",
                             "result": None} for job in cohort)
    return outcomes
