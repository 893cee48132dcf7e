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
_ORDER = ("rank", "probe", "info", "train", "sweep", "ingest", "export", "correlate", "plot", "study", "compare",
          "bench")


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    found.discard("common")
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the usage itself is one ``--help`` away)."""

    commands: dict[str, argparse.ArgumentParser]  # the sub-commands' parsers, by name (set by build_parser)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dastat",
        description="Rank data augmentations for knowledge distillation by the teacher's "
        "mean-probability stddev, and check the ranking against students.",
    )
    parser.add_argument("--version", action="version", version=f"dastat {dastat.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"dastat.cli.{name}").register(sub)
    parser.commands = sub.choices
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 partial failure, 2 usage or input error)."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said by the sub-command that was given them (`dastat study: error: ... --store`)
            parser.commands.get(getattr(args, "command", None), parser).error(
                f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as done:  # --help and --version exit 0 as usual; a usage error is returned
        if done.code in (0, None):
            raise
        return int(done.code) if isinstance(done.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False) or bool(os.environ.get("DASTAT_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except DastatError as err:
        if debug:
            raise
        print(f"dastat {args.command}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dastat {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`dastat correlate | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # the last line of defence: reaching it is a bug (the tests treat it as one)
        if debug:
            raise
        print(f"dastat {args.command}: internal error (a bug in dastat; please report it): "
              f"{type(err).__name__}: {_one_line(str(err))[:300]}. Run again with --debug for the traceback.",
              file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
