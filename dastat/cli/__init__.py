"""The ``dastat`` command line: one module per sub-command, each with ``register(subparsers)``.

A command module parses, calls the Python API and prints; it holds no logic of its own.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import dastat
from dastat.errors import DastatError

# Order in --help; a module not listed here is still found and shown last.
_ORDER = ("rank", "probe", "info", "train", "sweep", "ingest", "export", "correlate", "plot", "study", "bench")


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    found.discard("common")
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dastat",
        description="Rank data augmentations for knowledge distillation by the teacher's "
        "mean-probability stddev, and check the ranking against students.",
    )
    parser.add_argument("--version", action="version", version=f"dastat {dastat.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"dastat.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 partial failure, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DastatError as err:
        if getattr(args, "debug", False) or os.environ.get("DASTAT_DEBUG"):
            raise
        print(f"dastat {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dastat {args.command}: interrupted", file=sys.stderr)
        return 130
