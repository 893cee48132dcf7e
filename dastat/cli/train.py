"""``dastat train``: distil a teacher into a student with one DA scheme (docs/method.md, "KD recipe")."""

from __future__ import annotations

import argparse

from dastat.cli.common import add_command, add_device, add_normalisation, add_store, print_json, show_progress

_SHOWN = ("test_loss", "test_acc1", "test_acc5", "best_test_acc1", "best_epoch", "best_test_loss", "train_loss",
          "elapsed_s")


def register(sub) -> None:
    p = add_command(sub, "train", _run, help="distil a teacher into a student with a DA scheme (paper recipe)",
                    description="Distil a teacher into a student with one DA scheme: 0.1*CE + 0.9*(KL(x) + "
                    "KL(x')), tau 4, SGD, 240 epochs x factor. With no --teacher/--data: the embedded digits "
                    "teacher on the digits data.")
    p.add_argument("--teacher", default=None, help="teacher checkpoint (default: the embedded digits teacher)")
    p.add_argument("--student", default="resnet8", help="student architecture (default: resnet8)")
    p.add_argument("--data", default=None, help="dataset name (default: digits)")
    p.add_argument("--root", default=None, help="folder holding the dataset")
    p.add_argument("--image-size", type=int, default=None, help="image side for imagefolder data")
    p.add_argument("--scheme", default="identity", help="DA scheme making x' (default: identity)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None, help="epochs (default 240 x --epoch-factor)")
    length.add_argument("--epoch-factor", type=float, default=1.0, help="scale 240 epochs and the lr milestones")
    p.add_argument("--lr", type=float, default=None, help="initial lr (default 0.05; 0.01 for Mobile/Shuffle)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the student")
    p.add_argument("--out", default=None, help="run directory: checkpoint.pt, records.jsonl, student.pt")
    p.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints (default 10)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_device(p)
    add_store(p)
    p.add_argument("--record", action="store_true", help="add the run to the results store (implied by --store)")
    add_normalisation(p)


def _run(args: argparse.Namespace) -> int:
    from dastat import data, models
    from dastat.errors import InvalidArgumentError
    from dastat.train import distill

    if args.resume and not args.out:
        raise InvalidArgumentError("--resume needs --out, the run directory to continue")
    name = args.data or "digits"
    train_set = data.load(name, root=args.root, split="train", image_size=args.image_size)
    test_set = data.load(name, root=args.root, split="test", image_size=args.image_size)
    if args.teacher is None and args.data is None:
        teacher = models.embedded_teacher()
    elif args.teacher is None:
        raise InvalidArgumentError(f"--data {name} needs --teacher PATH (the embedded teacher knows only digits)")
    else:
        teacher = models.load_teacher(args.teacher, mean=args.mean, std=args.std, trust=args.trust_checkpoint,
                                      dataset=train_set)
    store = None
    if args.store is not None or args.record:
        from dastat import store as store_mod

        store = store_mod.open(args.store)
    result = distill(teacher, args.student, train_set, test_set, args.scheme, epochs=args.epochs,
                     epoch_factor=args.epoch_factor, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                     device=args.device, amp=args.amp, compile=args.compile, out_dir=args.out,
                     checkpoint_every=args.checkpoint_every, resume=args.resume, store=store,
                     progress=show_progress(args))
    if args.json:
        print_json(result.to_dict())
    else:
        rec = result.record
        print(f"{rec['teacher']} -> {rec['student']} on {rec['dataset']} with {rec['scheme']}, "
              f"{rec['epochs']} epochs, seed {rec['seed']}")
        for key in _SHOWN:
            print(f"  {key:15s} {rec[key]:.6g}")
        if result.out_dir is not None:
            print(f"  run directory   {result.out_dir}")
        if result.run_id is not None:
            print(f"  store run id    {result.run_id}")
    return 0
