"""The probe: T. stddev of augmentation schemes for a teacher, without training students."""

from dastat.probe.estimator import Interval, PairedDifference, interval, paired_difference
from dastat.probe.measure import STUDENT_FREE, ProbeInterrupted, Ranking, measure_scheme, rank, ranking_table, t_stddev
from dastat.probe.result import ProbeResult

__all__ = [
    "STUDENT_FREE",
    "Interval",
    "PairedDifference",
    "ProbeInterrupted",
    "ProbeResult",
    "Ranking",
    "interval",
    "measure_scheme",
    "paired_difference",
    "rank",
    "ranking_table",
    "t_stddev",
]
