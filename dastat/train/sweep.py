"""Moved: sweeps run in :mod:`dastat.runs` (the jobs layer above ``probe`` and ``train``).

``dastat.train.sweep.X`` names the old home of ``dastat.runs.X``; importing the runs layer from here would point
the import graph upwards, so this module only says where each name went.
"""

_MOVED = ("run_sweep", "expand", "load_config", "plan_cohorts", "run_cohort", "run_job", "is_done", "Job",
          "EXECUTORS")


def __getattr__(name: str):
    if name in _MOVED:
        raise AttributeError(f"dastat.train.sweep.{name} moved to dastat.runs.{name}: import it from dastat.runs "
                             "(sweeps run in the jobs layer, docs/runs.md)")
    raise AttributeError(f"module 'dastat.train.sweep' has no attribute {name!r}")
