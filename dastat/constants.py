"""The fixed names and numbers the package shares, each written once (docs/method.md)."""

from __future__ import annotations

Stats = tuple[float, float, float]

#: The paper's nine schemes, in the paper's order (docs/method.md, "Schemes").
PAPER_SCHEMES: tuple[str, ...] = ("identity", "flip", "flip_crop", "cutout", "autoaugment", "mixup", "cutmix",
                                  "cutmixpick_t", "cutmixpick_s")
#: The paper's schemes that need no student: what ``rank`` probes by default.
STUDENT_FREE: tuple[str, ...] = tuple(s for s in PAPER_SCHEMES if s != "cutmixpick_s")
#: The two probe protocols (docs/method.md, "Protocols").
PROTOCOLS: tuple[str, ...] = ("fast", "paper")
#: Upper bounds of the seed and the batch size, the same for the API and the CLI (each message states them).
MAX_SEED = 2**32 - 1
MAX_BATCH = 65536
#: How often a scheme draws its parameters: per image, or once per batch (docs/method.md, "Protocols").
RANDOMNESS: tuple[str, ...] = ("sample", "batch")
#: Where sweeps and studies run their jobs: here, or through submitit.
EXECUTORS: tuple[str, ...] = ("local", "slurm", "submitit-local", "debug")

#: Published per-channel (mean, std) on the 0..1 scale (docs/method.md, "Models and checkpoints").
CIFAR100: tuple[Stats, Stats] = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
CIFAR10: tuple[Stats, Stats] = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET: tuple[Stats, Stats] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
