"""The KD trainer (docs/method.md, "KD recipe"): plain cross-entropy training and distillation with any DA scheme.

Data lives on the device as uint8 and is augmented there; runs checkpoint atomically and resume
bit-exactly; under ``torchrun`` they use DistributedDataParallel. ``distill_cohort`` trains the students
of one teacher/student pair for many (scheme, seed) at once, as one fused network.
"""

from dastat.train.cohort import CohortBar, distill_cohort
from dastat.train.distill import distill
from dastat.train.fit import fit
from dastat.train.loop import CohortProgress
from dastat.train.methods import list_methods, method_loss, register_method
from dastat.train.recipe import Recipe
from dastat.train.result import TrainResult, read_records

__all__ = ["CohortBar", "CohortProgress", "Recipe", "TrainResult", "distill", "distill_cohort", "fit", "list_methods",
           "method_loss", "read_records", "register_method"]
