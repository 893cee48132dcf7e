"""A cohort in its own process, for the kill-and-resume test.

usage: python child_cohort.py ROOT [--resume] [--kill-at EPOCH,STEP]
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny import pause_at, toy_split, toy_teacher

from dastat.train.cohort import distill_cohort

RUNS = [("cutmix", 3), ("flip", 3), ("cutmix", 4), ("mixup", 4)]

torch.set_num_threads(1)
parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("--resume", action="store_true")
parser.add_argument("--kill-at", default=None)
args = parser.parse_args()
on_step = pause_at(args.kill_at)


root = Path(args.root)
results = distill_cohort(toy_teacher(), "resnet8", toy_split(32, "train"), toy_split(16, "test"), RUNS, epochs=3,
                         batch_size=12, device="cpu", out_dirs=[root / f"{s}_s{seed}" for s, seed in RUNS],
                         cohort_dir=root / "cohort", checkpoint_every=1, resume=args.resume, on_step=on_step)
torch.save([r.model.state_dict() for r in results], root / "final_weights.pt")
print("DONE", flush=True)
