"""Running work: the typed job and plan, the "already done?" check, recording to the store, the executors.

``probe`` and ``train`` compute and return; this layer (above both, below ``study`` and the CLI) decides what
to run, skips what is done, runs it here, in worker processes or on Slurm (submitit), and records the
results. ``run_sweep(config)`` runs a sweep file; ``run_plan(Plan(jobs))`` runs jobs built in code
(:func:`training_jobs`, :func:`probe_jobs`).
"""

from dastat.constants import EXECUTORS
from dastat.runs.done import is_done, split_done
from dastat.runs.executors import execute, make_executor, plan_cohorts, run_cohort, run_job
from dastat.runs.jobs import Job, Plan, expand, load_sweep, plan_sweep, probe_jobs, training_jobs
from dastat.runs.record import open_store, record_probes, record_runs
from dastat.runs.sweep import run_plan, run_sweep

__all__ = ["EXECUTORS", "Job", "Plan", "execute", "expand", "is_done", "load_sweep", "make_executor", "open_store",
           "plan_cohorts", "plan_sweep", "probe_jobs", "record_probes", "record_runs", "run_cohort", "run_job",
           "run_plan", "run_sweep", "split_done", "training_jobs"]
