"""Statistics on probe and student results: correlations with intervals and permutation p-values,
pooled models across teacher/student pairs, whether the T. stddev ranking picks the best scheme, and
the head-to-head of teacher-side predictors.

Every function takes a DataFrame with the columns of ``dastat.store.open().table()`` (or the bundled
reference, :func:`load_reference`) and returns a tidy table or a named record.
"""

from __future__ import annotations

from dastat.stats.correlation import Correlation, correlate, correlation, format_printed
from dastat.stats.pooled import meta_analysis, pooled
from dastat.stats.predictors import PredictorComparison, compare_predictors
from dastat.stats.reference import list_references, load_reference
from dastat.stats.runs import correlate_runs
from dastat.stats.selection import Selection, selection
from dastat.stats.sources import read_results

__all__ = [
    "Correlation",
    "PredictorComparison",
    "Selection",
    "compare_predictors",
    "correlate",
    "correlate_runs",
    "correlation",
    "format_printed",
    "list_references",
    "load_reference",
    "meta_analysis",
    "pooled",
    "read_results",
    "selection",
]
