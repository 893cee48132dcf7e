"""A plan run end to end: skip what is done, group into cohorts, execute, summarise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from dastat.constants import EXECUTORS
from dastat.runs.done import split_done
from dastat.runs.executors import cohorts_by_seed, execute, plan_cohorts
from dastat.runs.jobs import Plan, plan_sweep
from dastat.runs.record import open_store


def run_plan(plan: Plan, *, executor: str = "local", jobs: int = 1, store: str | Path | None = None,
             dry_run: bool = False, cohort_size: int | None = None) -> dict[str, Any]:
    """Skip the plan's finished jobs (:func:`dastat.runs.is_done`) and run the rest, recording to ``store``.

    Parameters
    ----------
    plan : Plan
        From :func:`dastat.runs.plan_sweep` or built from :func:`dastat.runs.training_jobs`.
    executor : {"local", "slurm", "submitit-local", "debug"}
        ``local``: in this process (``jobs=1``) or ``jobs`` worker processes. ``slurm``: one Slurm job
        per cohort through submitit (the plan's ``slurm`` gives ``update_parameters`` options,
        e.g. ``{slurm_partition: gpu, gpus_per_node: 1, timeout_min: 600}``). ``submitit-local`` and
        ``debug``: submitit's local and debug executors (for testing the Slurm path without Slurm).
    jobs : int
        Concurrent jobs for the ``local`` executor.
    store : path, optional
        Results store: finished jobs found there are skipped, new results are added.
    dry_run : bool
        Only list the jobs and which would be skipped.
    cohort_size : int, optional
        At most this many training jobs per cohort (one process trains them together); 1 trains each
        job alone. Default: the plan's ``cohort_size``, else as many as fit the device's free memory.

    Returns
    -------
    dict
        ``{"jobs": n, "skipped": [...], "ok": [...], "failed": [{"job", "error"}], "results": [...],
        "todo": [...], "cohorts": [[...], ...]}`` (job names; ``results`` in the order of ``ok``).
    """
    from dastat.checks import check_choice, check_int

    executor = check_choice(executor, "executor", EXECUTORS)
    jobs = check_int(jobs, "jobs", low=1)
    if cohort_size is None:
        cohort_size = plan.cohort_size
    cohort_size = None if cohort_size is None else check_int(cohort_size, "cohort_size", low=1)
    store = None if store is None else str(store)
    all_jobs = [replace(job, store=store) for job in plan.jobs]
    todo, skipped = split_done(all_jobs, open_store(store))
    cohorts = plan_cohorts(todo, cohort_size, by_seed=cohorts_by_seed(todo, executor))
    summary: dict[str, Any] = {"jobs": len(all_jobs), "skipped": [j.name for j in skipped], "ok": [],
                               "failed": [], "results": [], "todo": [j.name for j in todo],
                               "cohorts": [[j.name for j in c] for c in cohorts]}
    if dry_run or not todo:
        return summary
    outcomes = execute(cohorts, executor=executor, jobs=jobs, folder=plan.out / "submitit", slurm=plan.slurm,
                       cohort_size=cohort_size)
    for outcome in outcomes:
        if outcome["status"] == "ok":
            summary["ok"].append(outcome["job"])
            summary["results"].append(outcome["result"])
        else:
            summary["failed"].append({"job": outcome["job"], "error": outcome["error"]})
    return summary


def run_sweep(config: dict[str, Any] | str | Path, *, executor: str = "local", jobs: int = 1,
              store: str | Path | None = None, dry_run: bool = False, cohort_size: int | None = None) -> dict[str, Any]:
    """Expand a sweep (a mapping or its YAML file, see :mod:`dastat.runs.jobs`) and run it: :func:`run_plan` of
    :func:`plan_sweep`, with the same arguments and summary."""
    return run_plan(plan_sweep(config), executor=executor, jobs=jobs, store=store, dry_run=dry_run,
                    cohort_size=cohort_size)
