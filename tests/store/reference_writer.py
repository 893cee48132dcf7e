"""Writes reference-code experiment folders for the tests: with smilelogging itself when it is
installed (in a subprocess: it replaces builtins.print), else in its exact format (docs/method.md, "Log formats")."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import waiting

# The argument set of the paper's train_student.py, trimmed to what dastat reads plus a few others.
BASE_ARGS = {
    "alpha": 0.9, "batch_size": 64, "beta": 0.0, "cutmix_pick_criterion": "kld", "dataset": "cifar100",
    "debug": False, "distill": "kd", "epoch_factor": 0, "epochs": 3, "fix_student": False, "gamma": 0.1,
    "learning_rate": 0.05, "lr_decay_epochs": [150, 180, 210], "mix_mode": "crop+flip", "mix_n_run": 1,
    "model_s": "wrn_16_2", "model_t": "wrn_40_2", "path_t": "./save/models/wrn_40_2_vanilla/ckpt_epoch_240.pth",
    "trial": "1",
}

_DRIVER = textwrap.dedent("""
    import argparse, json, sys, types
    # smilelogging imports torchsummaryX (and so torch) only for an optional model summary: stub it,
    # which saves seconds per run; the Logger's own code is what writes the file.
    sys.modules["torchsummaryX"] = types.SimpleNamespace(summary=None)
    from smilelogging import Logger
    for spec in json.loads(sys.argv[1]):
        args = argparse.Namespace(**spec["args"])
        if spec["utils"] is not None:
            args.utils = argparse.Namespace(**spec["utils"])
        logger = Logger(args)
        for kind, text in spec["lines"]:
            if kind == "acc":
                logger.accprint(text)
            else:
                logger.print(text)
""")


def metric_line(acc1, acc5, loss, epoch, lr, best, best_epoch) -> str:
    """The reference code's accprint format string, verbatim."""
    return ("Acc1 %.4f Acc5 %.4f TestLoss %.6f Epoch %d (after update) lr %s (Best_Acc1 %.4f @ Epoch %d)"  # noqa: UP031
            % (acc1, acc5, loss, epoch, lr, best, best_epoch))


def check_line(n, epoch, step, total, std, entropy) -> str:
    return (f"Check T prob: NumOfSampledStd {n} Epoch {epoch} Step {step} TotalStep {total} "
            f"MeanStd {std:.6f} MeanEntropy {entropy:.6f}")


def has_smilelogging() -> bool:
    try:
        import smilelogging.logger as sl
        from smilelogging import Logger  # noqa: F401
    except Exception:  # an incompatible version fails in many ways
        return False
    return hasattr(sl.Logger, "accprint")  # 0.2.x, the reference code's generation


def write_with_smilelogging(cwd: Path, runs: list[tuple[str, str, dict, dict | None, list]]) -> list[Path]:
    """Run smilelogging's Logger once per run ``(project, exp_id, args, utils, lines)``, all in one
    subprocess; returns the log.txt paths."""
    specs = [{"args": {**args, "project_name": project, "ExpID": exp_id, "debug": False},
              "utils": utils, "lines": lines} for project, exp_id, args, utils, lines in runs]
    waiting.run([sys.executable, "-c", _DRIVER, json.dumps(specs)], cwd=cwd, check=True)
    return [cwd / "Experiments" / f"{project}_{exp_id}" / "log" / "log.txt" for project, exp_id, *_ in runs]


def write_by_hand(cwd: Path, project: str, exp_id: str, args: dict, utils: dict | None,
                  lines: list[tuple[str, str]]) -> Path:
    """The same file, written to the format smilelogging 0.2/0.3 produces."""
    folder = cwd / "Experiments" / f"{project}_{exp_id}" / "log"
    folder.mkdir(parents=True)
    full = {**args, "project_name": project, "ExpID": exp_id}
    if utils is not None:
        full["utils"] = "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in utils.items()) + ")"
    arg_line = "".join(f"('{k}': {full[k]}) " for k in sorted(full, key=str.lower))
    out = ["hostname: gpu-node  userip: user@10.0.0.138", f"cd {cwd}", "python train_student.py --epochs 3",
           "", arg_line, ""]
    stamp = "[%s 4242 2022/03/15-10:%02d:%02d] "
    for i, (kind, text) in enumerate(lines):
        body = ("  " * int(exp_id[-1]) + " " + text) if kind == "acc" else text
        out.append(stamp % (exp_id[-6:], 12 + i // 60, i % 60) + body)
    path = folder / "log.txt"
    path.write_text("\n".join(out) + "\n")
    return path
