"""The KD trainer (docs/method.md, "KD recipe"): plain cross-entropy training and distillation with any DA scheme.

Data lives on the device as uint8 and is augmented there; runs checkpoint atomically and resume
bit-exactly; under ``torchrun`` they use DistributedDataParallel.
"""

from dastat.train.distill import distill
from dastat.train.fit import fit
from dastat.train.result import TrainResult, read_records

__all__ = ["TrainResult", "distill", "fit", "read_records"]
