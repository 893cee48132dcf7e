"""A distillation run in its own process, for the kill-and-resume and DDP tests.

usage: python child_run.py OUT_DIR [--resume] [--kill-at EPOCH,STEP] [--epochs N] [--method NAME]
"""

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny import pause_at, toy_split, toy_teacher

from dastat.train import distill

torch.set_num_threads(1)
parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--resume", action="store_true")
parser.add_argument("--kill-at", default=None)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--scheme", default="cutmix")
parser.add_argument("--method", default="kd")
args = parser.parse_args()
on_step = pause_at(args.kill_at)


result = distill(toy_teacher(), "resnet8", toy_split(32, "train"), toy_split(16, "test"), args.scheme,
                 epochs=args.epochs, batch_size=12, seed=3, device="cpu", out_dir=args.out,
                 checkpoint_every=1, resume=args.resume, on_step=on_step, method=args.method,
                 method_options={"nce_k": 16, "feat_dim": 8} if args.method == "crd" else None)
if int(os.environ.get("RANK", 0)) == 0:
    torch.save(result.model.state_dict(), Path(args.out) / "final_weights.pt")
if result.method is not None:
    torch.save(result.method.state_dict(), Path(args.out) / f"method_rank{os.environ.get('RANK', 0)}.pt")
print("DONE", flush=True)
