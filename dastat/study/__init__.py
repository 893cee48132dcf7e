"""End-to-end studies: from a teacher to the Figure-4 grid and a report, in one call (``dastat study``).

>>> config = dastat.study.load_config("digits", quick=True)       # doctest: +SKIP
>>> result = dastat.study.run_study(config, "results/studies/quick")  # doctest: +SKIP
>>> result.analysis.correlations                                  # doctest: +SKIP
"""

from __future__ import annotations

from dastat.study.analysis import StudyAnalysis, analyse
from dastat.study.compare import StudyComparison, compare_studies
from dastat.study.config import PRESETS, StudyConfig, list_presets, load_config
from dastat.study.pipeline import StudyResult, reprobe_study, run_study
from dastat.study.plateau import plateau
from dastat.study.report import write_report

__all__ = [
    "PRESETS",
    "StudyAnalysis",
    "StudyComparison",
    "StudyConfig",
    "StudyResult",
    "analyse",
    "compare_studies",
    "list_presets",
    "load_config",
    "plateau",
    "reprobe_study",
    "run_study",
    "write_report",
]
