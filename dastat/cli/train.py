"""``dastat train``: distil a teacher into a student with one DA scheme (docs/method.md, "KD recipe")."""

from __future__ import annotations

import argparse
import contextlib

from dastat.cli import _checks as checks
from dastat.cli.common import (
    add_batch_size,
    add_command,
    add_device,
    add_image_size,
    add_root,
    add_seed,
    add_store,
    add_teacher,
    dataset_name,
    key_values,
    load_teacher,
    method_name,
    model_name,
    print_json,
    scheme_name,
    show_progress,
)

_SHOWN = ("test_loss", "test_acc1", "test_acc5", "best_test_acc1", "best_epoch", "best_test_loss", "train_loss",
          "elapsed_s")


def register(sub) -> None:
    p = add_command(sub, "train", _run, help="distil a teacher into a student with a DA scheme (paper recipe)",
                    description="Distil a teacher into a student with one DA scheme: 0.1*CE + 0.9*(KL(x) + "
                    "KL(x')), tau 4, SGD, 240 epochs x factor. With no --teacher/--data: the embedded digits "
                    "teacher on the digits data.")
    add_teacher(p)
    p.add_argument("--student", default="resnet8", type=model_name("resnet8"),
                   help="student architecture (default: resnet8)")
    p.add_argument("--data", default=None, type=dataset_name(), help="dataset name (default: digits)")
    add_root(p)
    add_image_size(p)
    p.add_argument("--scheme", default="identity", type=scheme_name("identity"),
                   help="DA scheme making x' (default: identity)")
    p.add_argument("--method", default="kd", type=method_name("kd"),
                   help="distillation method adding beta*L_method(x) (default: kd; see `dastat info`)")
    p.add_argument("--gamma", type=checks.Number(0), default=None, help="weight of CE on x (default 0.1)")
    p.add_argument("--alpha", type=checks.Number(0), default=None, help="weight of KL(x) + KL(x') (default 0.9)")
    p.add_argument("--beta", type=checks.Number(0), default=None,
                   help="weight of the method's term (default: RepDistiller's published value per method)")
    p.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                   type=checks.KeyValue("--method-option nce_k=4096"),
                   help="an option of the method's builder, e.g. nce_k=4096 for crd (repeatable)")
    p.add_argument("--init-epochs", type=checks.integer(0, 100000), default=None,
                   help="epochs of AB's/FT's/FSP's pre-training stage (default 30 x epochs / 240)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=checks.integer(1), default=None, help="epochs (default 240 x --epoch-factor)")
    length.add_argument("--epoch-factor", type=checks.Number(0, 100, open_low=True), default=1.0,
                        help="scale 240 epochs and the lr milestones")
    p.add_argument("--lr", type=checks.Number(0, 10, open_low=True), default=None,
                   help="initial lr (default 0.05; 0.01 for Mobile/Shuffle)")
    add_batch_size(p)
    add_seed(p)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the student")
    p.add_argument("--out", default=None, type=checks.OutputFolder(),
                   help="run directory: checkpoint.pt, records.jsonl, student.pt")
    p.add_argument("--checkpoint-every", type=checks.integer(1), default=10,
                   help="epochs between checkpoints (default 10)")
    p.add_argument("--test-from", type=checks.integer(1), default=1, metavar="EPOCH",
                   help="score the test set after this epoch and every later one (default 1: every epoch)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_device(p)
    add_store(p)
    p.add_argument("--record", action="store_true", help="add the run to the results store (implied by --store)")


def _run(args: argparse.Namespace) -> int:
    from dastat import store as store_module
    from dastat.errors import InvalidArgumentError

    if args.resume:
        _check_resumable(args.out)
    name = args.data or "digits"
    if args.teacher is None and args.data is not None:
        raise InvalidArgumentError(f"--data {name} needs --teacher PATH (the embedded teacher knows only digits)")
    recording = args.store is not None or args.record
    with (store_module.open(args.store) if recording else contextlib.nullcontext()) as store:  # checked first
        return _train(args, store)


def _check_resumable(out: str | None) -> None:
    """--resume continues a run: refuse, rather than start a new one, where there is none to continue."""
    from pathlib import Path

    from dastat.errors import InvalidArgumentError
    from dastat.train.checkpoint import CHECKPOINT_NAME

    if not out:
        raise InvalidArgumentError("--resume needs --out, the run directory to continue")
    if not (Path(out) / CHECKPOINT_NAME).is_file():
        raise InvalidArgumentError(f"--resume: {out} holds no run to continue (no {CHECKPOINT_NAME}); leave --resume "
                                   "out to start a new run there, or give --out the run's directory")


def _train(args: argparse.Namespace, store) -> int:
    from dastat import data
    from dastat.distributed import detect_world
    from dastat.train import distill

    name = args.data or "digits"
    train_set = data.load(name, root=args.root, split="train", image_size=args.image_size)
    test_set = data.load(name, root=args.root, split="test", image_size=args.image_size)
    teacher = load_teacher(args, train_set, "cpu")  # distill moves it to --device
    result = distill(teacher, args.student, train_set, test_set, args.scheme, method=args.method, gamma=args.gamma,
                     alpha=args.alpha, beta=args.beta, method_options=_options(args.method_option),
                     init_epochs=args.init_epochs, epochs=args.epochs,
                     epoch_factor=args.epoch_factor, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                     device=args.device, amp=args.amp, compile=args.compile, out_dir=args.out,
                     checkpoint_every=args.checkpoint_every, test_from=args.test_from, resume=args.resume,
                     progress=show_progress(args))
    if store is not None and detect_world().is_main:  # under torchrun, rank 0 records
        from dastat.runs import record_runs

        record_runs(store, [result])
    if args.json:
        print_json(result.to_dict())
    else:
        rec = result.record
        print(f"{rec['teacher']} -> {rec['student']} on {rec['dataset']} with {rec['scheme']}, method {rec['method']}, "
              f"{rec['epochs']} epochs, seed {rec['seed']}")
        for key in _SHOWN:
            print(f"  {key:15s} {rec[key]:.6g}")
        if result.out_dir is not None:
            print(f"  run directory   {result.out_dir}")
        if result.run_id is not None:
            print(f"  store run id    {result.run_id}")
    return 0


def _options(pairs: list[str]) -> dict[str, object]:
    """``["nce_k=4096", "nce_t=0.1"]`` -> ``{"nce_k": 4096, "nce_t": 0.1}`` (ints, then floats, else text)."""
    options: dict[str, object] = {}
    for key, text in key_values(pairs, "--method-option", "nce_k=4096").items():
        for kind in (int, float):
            try:
                options[key] = kind(text)
                break
            except ValueError:
                continue
        else:
            options[key] = text
    return options
