"""Options and output shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from dastat.cli import _checks as checks
from dastat.constants import MAX_BATCH
from dastat.jsonable import json_ready


def add_command(sub, name: str, func, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A sub-command parser with ``--json`` and ``--debug``, bound to ``func(args) -> int``."""
    p = sub.add_parser(name, help=help, description=description or help)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    p.set_defaults(func=func)
    return p


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", type=checks.Device(),
                   help="auto (CUDA when present), cpu or cuda[:N] (default: auto)")


def add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=None,
        type=checks.StoreFile(),
        help="results store (SQLite file); default $DASTAT_STORE or results/dastat.sqlite",
    )


def add_normalisation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mean", type=checks.Number(0, 1), nargs=3, default=None, metavar=("R", "G", "B"),
                   help="teacher input mean, 0..1 scale (default: the dataset's)")
    p.add_argument("--std", type=checks.Number(1e-3, 1, why=" (0..1 scale; a smaller std saturates the teacher)"),
                   nargs=3, default=None, metavar=("R", "G", "B"),
                   help="teacher input std, 0..1 scale, at least 0.001 (default: the dataset's)")


def add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoints that need arbitrary unpickling (only for files you trust)")


def key_values(items: list[str] | None, flag: str, example: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` for a repeatable ``KEY=VALUE`` option."""
    from dastat.errors import InvalidArgumentError

    pairs = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"{flag} takes KEY=VALUE; got {item!r} (e.g. {flag} {example})")
        pairs[key.strip()] = value.strip()
    return pairs


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars on a terminal only: never with --json or under CI."""
    return not getattr(args, "json", False) and not os.environ.get("CI") and sys.stderr.isatty()


def print_json(payload: Any) -> None:
    print(json.dumps(json_ready(payload), indent=2, default=str))


def print_frame(frame, *, floatfmt: str = "{:.6g}") -> None:
    """Print a DataFrame as an aligned text table."""
    with_fmt = frame.copy()
    for col in with_fmt.columns:
        if with_fmt[col].dtype.kind == "f":
            with_fmt[col] = with_fmt[col].map(lambda v: "" if v != v else floatfmt.format(v))
    print(with_fmt.to_string(index=False))


# Name options, each checked by its registry's own lookup (its message, its nearest names).
def dataset_name() -> checks.Name:
    return checks.Name("dataset", "dastat.data:list_datasets", lookup="dastat.data:DATASETS.get", also=("digits",))


def model_name(*default: str) -> checks.Name:
    return checks.Name("model", "dastat.models:list_models", lookup="dastat.models:MODELS.get", also=default)


def scheme_name(*default: str) -> checks.Name:
    return checks.Name("scheme", "dastat.augment:list_schemes", lookup="dastat.augment:get", also=default)


def scheme_names() -> checks.Names:
    return checks.Names("scheme", "dastat.augment:list_schemes", lookup="dastat.augment:get", also=("all",))


def method_name(*default: str) -> checks.Name:
    return checks.Name("distillation method", "dastat.train.methods:list_methods",
                       lookup="dastat.train.methods:get_method", also=default)


def method_names() -> checks.Names:
    return checks.Names("distillation method", "dastat.train.methods:list_methods",
                        lookup="dastat.train.methods:get_method")


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", type=dataset_name(),
                   help="dataset name (default: digits, the embedded default)")
    add_root(p)
    add_image_size(p)
    p.add_argument("--max-images", type=checks.integer(1), default=None,
                   help="seeded, class-stratified subsample of this many images")


def add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, type=checks.InputFolder(),
                   help="folder holding the dataset (default: $DASTAT_DATA)")


def add_image_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-size", type=checks.integer(8, checks.MAX_IMAGE_SIZE), default=None,
                   help=f"resize images to this size, 8..{checks.MAX_IMAGE_SIZE} (imagefolder)")


def add_seed(p: argparse.ArgumentParser, help: str = "random seed (default: 0)") -> None:
    p.add_argument("--seed", type=checks.seed(), default=0, help=help)


def add_batch_size(p: argparse.ArgumentParser, default: int = 64) -> None:
    p.add_argument("--batch-size", type=checks.integer(1, MAX_BATCH), default=default,
                   help=f"images per batch (default: {default})")


def add_teacher(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", default=None, type=checks.InputFile(),
                   help="teacher checkpoint (default: the embedded digits teacher)")
    p.add_argument("--arch", default=None, type=model_name(),
                   help="teacher architecture, when the --teacher checkpoint does not say")
    add_normalisation(p)
    add_trust(p)


def load_dataset(args: argparse.Namespace, split: str = "train"):
    from dastat import data

    return data.load(args.data, root=args.root, split=split, image_size=args.image_size,
                     max_images=args.max_images, seed=getattr(args, "seed", 0))


def load_teacher(args: argparse.Namespace, dataset, device):
    """The ``--teacher`` checkpoint (or the embedded teacher) for ``dataset``: the one rule of every command.

    Takes the options :func:`add_teacher` adds: ``--arch`` when the file does not say, ``--mean/--std``
    over the teacher's own normalisation (for the embedded teacher too), ``--trust-checkpoint``.
    """
    from dastat import models
    from dastat.errors import InvalidArgumentError

    if args.teacher is None and args.arch is not None:
        raise InvalidArgumentError(f"--arch {args.arch} names the architecture of a --teacher checkpoint; give "
                                   "--teacher PATH too, or leave --arch out for the embedded teacher")
    if args.teacher is None:
        teacher = models.embedded_teacher(device=device)
        if args.mean or args.std:
            teacher = models.wrap(teacher.net, args.mean or teacher.mean, args.std or teacher.std, arch=teacher.arch)
        return teacher
    return models.load_teacher(args.teacher, arch=args.arch, device=device, mean=args.mean, std=args.std,
                               trust=args.trust_checkpoint, dataset=dataset)
