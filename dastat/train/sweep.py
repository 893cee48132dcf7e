"""Sweeps: a YAML grid of training and probe jobs, skipping what is done, run locally or on Slurm.

A sweep file::

    data: digits                  # dataset name; `root:` for datasets on disk, `data_options:` for
                                  # dataset keywords (synthetic: num_classes, num_images)
    train_options: {max_images: 180}  # load keywords of the train split only (the test split stays whole)
    pairs:                        # teacher checkpoint (or "embedded") and student architecture
      - {teacher: embedded, student: resnet8}
    schemes: [identity, cutmix]
    methods: [kd, crd]            # distillation methods (default [kd]); `method_options: {crd: {nce_k: 4096}}`
    seeds: [0, 1]
    epoch_factors: [1]            # or `epochs: 2` for short runs
    out: runs/sweep               # one run directory per training job
    probe:                        # optional: T. stddev of each (teacher, scheme, seed)
      schemes: [identity, cutmix]
      seeds: [0]
      protocol: fast

expands to ``pairs x methods x schemes x seeds x epoch_factors`` training jobs plus ``teachers x probe schemes x
probe seeds`` probe jobs. A training job is done when its run directory holds a final record or the
store holds a student run with the same teacher, student, method, dataset, scheme, seed and epochs; a probe
job when the store holds a probe with the same teacher, dataset, scheme, seed and protocol.

Training jobs that differ only in scheme and seed (same teacher, student, dataset, epochs and options)
are trained together as cohorts (:func:`dastat.train.cohort.distill_cohort`), at most ``cohort_size``
per process (a key of the file or ``run_sweep``'s argument; default: as many as fit the device's free
memory, see :func:`dastat.train.cohort.fit_cohort_size`); ``cohort_size: 1`` trains each job alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import os
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dastat.errors import ConfigError, DastatError

EXECUTORS = ("local", "slurm", "submitit-local", "debug")
_KNOWN_KEYS = {"data", "data_options", "root", "image_size", "pairs", "schemes", "seeds", "epoch_factors", "epochs",
               "batch_size", "lr", "device", "amp", "out", "checkpoint_every", "probe", "slurm", "methods",
               "method_options", "cohort_size", "train_options"}


@dataclass(frozen=True)
class Job:
    """One unit of a sweep: a training run (``kind="train"``) or a probe (``kind="probe"``)."""

    kind: str
    teacher: str
    dataset: str
    scheme: str
    seed: int
    student: str | None = None
    epoch_factor: float = 1.0
    epochs: int | None = None
    root: str | None = None
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)  # data.load keywords of the train split only
    out_dir: str | None = None
    store: str | None = None
    method: str = "kd"
    method_options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        path = Path(self.teacher)
        teacher = self.teacher if self.teacher == "embedded" else (path.parent.name or path.stem)
        if self.kind == "probe":
            return f"probe:{teacher}:{self.dataset}:{self.scheme}:s{self.seed}"
        length = f"e{self.epochs}" if self.epochs else f"k{self.epoch_factor:g}"
        method = "" if self.method == "kd" else f":{self.method}"  # plain KD keeps its names and run directories
        return f"train:{teacher}-{self.student}:{self.dataset}:{self.scheme}:s{self.seed}:{length}{method}"


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and check a sweep file."""
    from dastat.yamlfile import read_yaml

    path = Path(path)
    config = read_yaml(path, "sweep file")
    if not isinstance(config, dict):
        raise ConfigError(f"sweep file {path} must hold a mapping (data:, pairs:, schemes:, ...)")
    unknown = set(config) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"sweep file {path}: unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
    pairs = config.get("pairs") or []
    if not isinstance(pairs, list) or not all(isinstance(p, dict) and "teacher" in p for p in pairs):
        raise ConfigError(f"sweep file {path}: pairs must be a list of {{teacher: PATH|embedded, student: NAME}}")
    methods = config.get("methods", ["kd"])
    if not isinstance(methods, list) or not methods:
        raise ConfigError(f"sweep file {path}: methods must be a list of method names, e.g. [kd, crd]")
    from dastat.train.methods import get_method

    for method in methods:
        get_method(str(method))  # an unknown name fails here, naming the close ones, not in every job
    if not pairs and not config.get("probe"):
        raise ConfigError(f"sweep file {path} defines no jobs: give pairs: (training) and/or probe:")
    return config


def expand(config: dict[str, Any], *, store: str | None = None) -> list[Job]:
    """The grid of jobs a sweep configuration describes, training jobs first."""
    data = config.get("data", "digits")
    out = Path(config.get("out", "runs/sweep"))
    common = {"dataset": data, "root": config.get("root"), "image_size": config.get("image_size"), "store": store,
              "data_options": dict(config.get("data_options") or {}),
              "train_options": dict(config.get("train_options") or {})}
    options = {k: config[k] for k in ("batch_size", "lr", "device", "amp", "checkpoint_every") if k in config}
    jobs = []
    pairs = config.get("pairs") or []
    method_options = dict(config.get("method_options") or {})
    for pair in pairs:
        for method in config.get("methods", ["kd"]):
            for scheme in config.get("schemes", ["identity"]):
                for seed in config.get("seeds", [0]):
                    for factor in config.get("epoch_factors", [1]):
                        job = Job("train", str(pair["teacher"]), scheme=scheme, seed=int(seed),
                                  student=str(pair.get("student", "resnet8")), epoch_factor=float(factor),
                                  epochs=config.get("epochs"), options=options, method=str(method),
                                  method_options=dict(method_options.get(method) or {}), **common)
                        jobs.append(_with_out(job, out))
    probe = config.get("probe") or {}
    if probe:
        teachers = probe.get("teachers") or sorted({str(p["teacher"]) for p in pairs}) or ["embedded"]
        probe_options = {k: v for k, v in probe.items() if k not in ("schemes", "seeds", "teachers")}
        probe_options.setdefault("device", config.get("device", "auto"))
        for teacher in teachers:
            for scheme in probe.get("schemes", config.get("schemes", ["identity"])):
                for seed in probe.get("seeds", [0]):
                    jobs.append(Job("probe", teacher, scheme=scheme, seed=int(seed), options=probe_options, **common))
    return jobs


def _with_out(job: Job, out: Path) -> Job:
    return replace(job, out_dir=str(out / job.name.split(":", 1)[1].replace(":", "_")))


def _load_teacher(job: Job, train_set):
    from dastat import models

    if job.teacher == "embedded":
        return models.embedded_teacher()
    return models.load_teacher(job.teacher, dataset=train_set)


def run_job(job: Job) -> dict[str, Any]:
    """Run one job in this process; returns ``{"job", "status", "error", "result"}`` and never raises."""
    try:
        from dastat import data

        train_set = data.load(job.dataset, root=job.root, split="train", image_size=job.image_size,
                              **job.data_options, **job.train_options)
        teacher = _load_teacher(job, train_set)
        if job.kind == "probe":
            from dastat import probe

            result = probe.t_stddev(teacher, train_set, job.scheme, seed=job.seed, **job.options).to_dict()
            if job.store is not None:
                from dastat import store as store_mod

                store_mod.open(job.store).add_probe(result)
            return {"job": job.name, "status": "ok", "error": None, "result": result}
        from dastat.train.distill import distill

        test_set = data.load(job.dataset, root=job.root, split="test", image_size=job.image_size,
                             **job.data_options)
        out_dir = Path(job.out_dir)
        result = distill(teacher, job.student, train_set, test_set, job.scheme, method=job.method,
                         method_options=job.method_options or None, epochs=job.epochs,
                         epoch_factor=job.epoch_factor, seed=job.seed, out_dir=out_dir,
                         resume=(out_dir / "checkpoint.pt").exists(), store=job.store, **job.options)
        return {"job": job.name, "status": "ok", "error": None, "result": result.to_dict()}
    except DastatError as err:
        return {"job": job.name, "status": "failed", "error": str(err), "result": None}
    except Exception as err:  # one failing job must not stop the sweep: report it with its traceback tail
        tail = traceback.format_exc().strip().splitlines()[-3:]
        return {"job": job.name, "status": "failed", "error": f"{type(err).__name__}: {err} ({' | '.join(tail)})",
                "result": None}


def plan_cohorts(jobs: list[Job], cohort_size: int | None = None) -> list[tuple[Job, ...]]:
    """Group the training jobs into cohorts: same teacher, student, dataset, epochs and options.

    Groups keep the jobs' order and are cut into pieces of at most ``cohort_size`` (no limit: None);
    probe jobs, and jobs of a method other than plain KD (cohorts train the KD loss only), stay alone.
    """
    import json

    groups: dict[str, list[Job]] = {}
    for job in jobs:
        if job.kind != "train" or cohort_size == 1 or job.method != "kd" or job.method_options:
            groups[f"alone:{len(groups)}"] = [job]
            continue
        key = json.dumps([job.teacher, job.student, job.dataset, job.root, job.image_size, job.data_options,
                          job.train_options, job.epoch_factor, job.epochs, job.options, job.store],
                         sort_keys=True, default=str)
        groups.setdefault(key, []).append(job)
    size = cohort_size or max((len(g) for g in groups.values()), default=1)
    return [tuple(g[i:i + size]) for g in groups.values() for i in range(0, len(g), size)]


def run_cohort(jobs: tuple[Job, ...], cohort_size: int | None = None) -> list[dict[str, Any]]:
    """Run a cohort of training jobs in this process (one job: :func:`run_job`); never raises.

    Without ``cohort_size`` the cohort is cut to what fits the device's free memory
    (:func:`dastat.train.cohort.fit_cohort_size`) and the pieces run one after another.
    """
    if len(jobs) == 1:
        return [run_job(jobs[0])]
    try:
        from dastat import data
        from dastat.train.cohort import distill_cohort, fit_cohort_size

        job = jobs[0]
        train_set = data.load(job.dataset, root=job.root, split="train", image_size=job.image_size,
                              **job.data_options, **job.train_options)
        test_set = data.load(job.dataset, root=job.root, split="test", image_size=job.image_size,
                             **job.data_options)
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
                                     out_dirs=[Path(j.out_dir) for j in piece], resume=True, store=job.store,
                                     **options)
            for j, result in zip(piece, results):
                error = result.extra.get("error")
                outcomes.append({"job": j.name, "status": "failed" if error else "ok", "error": error,
                                 "result": None if error else result.to_dict()})
        return outcomes
    except DastatError:
        # A job the cohort refuses (an unknown scheme, a scheme of its own batch size): each job alone
        # reports its own error, and the others still run.
        return [run_job(j) for j in jobs]
    except Exception as err:  # one failing cohort must not stop the sweep
        tail = traceback.format_exc().strip().splitlines()[-3:]
        message = f"{type(err).__name__}: {err} ({' | '.join(tail)})"
        return [{"job": j.name, "status": "failed", "error": message, "result": None} for j in jobs]


def is_done(job: Job, store=None) -> bool:
    """Whether a job's result already exists (its run directory's final record, or the store)."""
    if job.kind == "train" and job.out_dir is not None:
        from dastat.train.result import read_records

        if read_records(Path(job.out_dir))[1] is not None:
            return True
    if store is None:
        return False
    from dastat.train.schedule import BASE_EPOCHS

    table = store.students() if job.kind == "train" else store.probes()
    if table.empty:
        return False
    rows = table[(table["dataset"] == job.dataset) & (table["scheme"] == job.scheme) & (table["seed"] == job.seed)]
    if job.kind == "train":
        epochs = job.epochs or round(BASE_EPOCHS * job.epoch_factor)
        rows = rows[(rows["student"] == job.student) & (rows["epochs"] == epochs)
                    & (rows["method"].fillna("kd") == job.method)]
    else:
        rows = rows[rows["protocol"] == job.options.get("protocol", "fast")]
    if job.teacher == "embedded" or not len(rows):
        return bool(len(rows))
    from dastat.models.checkpoint_file import sha256_of

    return bool((rows["teacher_checksum"] == sha256_of(job.teacher)).any())


def _share_cores(jobs: int) -> None:
    """Worker initializer: ``jobs`` concurrent CPU runs split the cores instead of each taking them all."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // jobs))


def _executor(kind: str, jobs: int, folder: Path, slurm: dict[str, Any]):
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


def run_sweep(config: dict[str, Any] | str | Path, *, executor: str = "local", jobs: int = 1,
              store: str | None = None, dry_run: bool = False, cohort_size: int | None = None) -> dict[str, Any]:
    """Expand a sweep, skip finished jobs and run the rest.

    Parameters
    ----------
    config : dict or path
        A sweep configuration (see the module docstring) or the YAML file holding it.
    executor : {"local", "slurm", "submitit-local", "debug"}
        ``local``: in this process (``jobs=1``) or ``jobs`` worker processes. ``slurm``: one Slurm job
        per sweep job through submitit (``slurm:`` in the file gives ``update_parameters`` options,
        e.g. ``{slurm_partition: gpu, gpus_per_node: 1, timeout_min: 600}``). ``submitit-local`` and
        ``debug``: submitit's local and debug executors (for testing the Slurm path without Slurm).
    jobs : int
        Concurrent jobs for the ``local`` executor.
    store : str, optional
        Results store path: finished jobs found there are skipped, new results are added.
    dry_run : bool
        Only list the jobs and which would be skipped.
    cohort_size : int, optional
        At most this many training jobs per cohort (one process trains them together); 1 trains each
        job alone. Default: the file's ``cohort_size``, else as many as fit the device's free memory.

    Returns
    -------
    dict
        ``{"jobs": n, "skipped": [...], "ok": [...], "failed": [{"job", "error"}], "results": [...]}``.
    """
    from dastat.checks import check_choice, check_int

    executor = check_choice(executor, "executor", EXECUTORS)
    jobs = check_int(jobs, "jobs", low=1)
    if not isinstance(config, dict):
        config = load_config(config)
    if cohort_size is None:
        cohort_size = config.get("cohort_size")
    cohort_size = None if cohort_size is None else check_int(cohort_size, "cohort_size", low=1)
    all_jobs = expand(config, store=store)
    store_obj = None
    if store is not None:
        from dastat import store as store_mod

        store_obj = store_mod.open(store)
    todo, skipped = [], []
    for job in all_jobs:
        (skipped if is_done(job, store_obj) else todo).append(job)
    cohorts = plan_cohorts(todo, cohort_size)
    summary: dict[str, Any] = {"jobs": len(all_jobs), "skipped": [j.name for j in skipped], "ok": [],
                               "failed": [], "results": [], "todo": [j.name for j in todo],
                               "cohorts": [[j.name for j in c] for c in cohorts]}
    if dry_run or not todo:
        return summary
    folder = Path(config.get("out", "runs/sweep")) / "submitit"
    pool = _executor(executor, min(jobs, len(cohorts)), folder, dict(config.get("slurm") or {}))
    run = functools.partial(run_cohort, cohort_size=cohort_size)
    if pool is None:
        outcomes = [o for cohort in cohorts for o in run(cohort)]
    elif isinstance(pool, cf.Executor):
        with pool:
            outcomes = [o for done in pool.map(run, cohorts) for o in done]
    else:
        submitted = [pool.submit(run, cohort) for cohort in cohorts]
        outcomes = []
        for cohort, handle in zip(cohorts, submitted):
            try:
                outcomes.extend(handle.result())
            except Exception as err:  # the Slurm job itself died (timeout, node failure)
                outcomes.extend({"job": job.name, "status": "failed", "error": f"{type(err).__name__}: {err}",
                                 "result": None} for job in cohort)
    for outcome in outcomes:
        if outcome["status"] == "ok":
            summary["ok"].append(outcome["job"])
            summary["results"].append(outcome["result"])
        else:
            summary["failed"].append({"job": outcome["job"], "error": outcome["error"]})
    return summary


__all__ = ["EXECUTORS", "Job", "expand", "is_done", "load_config", "plan_cohorts", "run_cohort", "run_job",
           "run_sweep"]
