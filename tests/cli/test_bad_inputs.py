"""Bad and odd values for every option of every sub-command, generated from the argparse definitions.

Every number gets NaN, +-inf, 0, -1 and 10^12; every path a missing path, a folder, a text file, an
unwritable place and binary junk. Each case runs ``dastat.cli.main`` in-process with the heavy work
(probing, training, sweeps, studies, benchmarks, evaluation) replaced by a tripwire, so a case either
ends in the CLI's own checks or reaches the tripwire, which means its input passed every check made
before the work starts. A case must end with exit 0, 1 or 2, no traceback, one line on stderr, and,
when refused, nothing written. NaN and infinities are never legal. A new option is covered the day it
is added: a number without a range check, or a text option that is neither a path nor listed below
as a name, fails ``test_every_option_is_classified``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from dastat.cli import _checks, build_parser, main

NUMBERS = ("nan", "inf", "-inf", "0", "-1", "1000000000000")
NEVER_LEGAL = {"nan", "inf", "-inf"}
PATHS = ("missing", "folder", "file", "unwritable", "junk")
# Text options that take a name (checked by the registry that reads it), per command; "*" is every command.
NAMES = {
    "*": {"--device", "--data", "--arch", "--scheme", "--schemes", "--protocol", "--randomness"},
    "train": {"--student", "--method", "--method-option"},
    "study": {"--methods"},
    "bench": {"--method"},
    "correlate": {"--dataset", "--teacher", "--student", "--x", "--y", "--by", "--methods", "--predictors"},
    "plot": {"--dataset", "--teacher", "--student", "--x", "--y", "--by"},
    "ingest": {"--map", "--set"},
}
# Arguments each command needs besides the one under test (a value is filled in by _workdir).
BASE = {
    "probe": ["--scheme", "identity"],
    "plot": ["--out", "{out}/fig.png", "--dataset", "cifar100", "--teacher", "resnet56"],  # one panel: fast
    "sweep": ["{sweep}"],
    "ingest": ["{csv}"],
    "correlate": ["--n-resamples", "0"],
}
_SWEEP = "data: digits\npairs:\n  - {teacher: embedded, student: resnet8}\nschemes: [identity]\nseeds: [0]\nepochs: 1\n"


class Reached(BaseException):
    """The tripwire: the heavy work began (a BaseException, so the CLI's handlers let it through)."""


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(command_parser: argparse.ArgumentParser):
    for action in command_parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._StoreTrueAction | argparse._VersionAction):
            continue
        if action.choices is not None:  # argparse itself refuses anything else
            continue
        yield action


def _name(action: argparse.Action) -> str:
    return action.option_strings[-1] if action.option_strings else action.dest


def _kind(command: str, action: argparse.Action) -> str:
    if isinstance(action.type, _checks.Number):
        return "number"
    if isinstance(action.type, _checks._PathCheck):
        return "path"
    if action.type in (int, float):
        return "unchecked number"
    if _name(action) in NAMES["*"] | NAMES.get(command, set()):
        return "name"
    return "unclassified"


def _cases():
    for command, command_parser in _commands().items():
        for action in _options(command_parser):
            kind = _kind(command, action)
            values = NUMBERS if kind == "number" else PATHS if kind == "path" else ()
            for value in values:
                yield pytest.param(command, action, value, id=f"{command} {_name(action)} {value}")


CASES = list(_cases())


def test_figure_suffixes_are_the_ones_save_figure_writes():
    from dastat.plot.saving import FORMATS

    assert _checks.FIGURE_SUFFIXES == FORMATS


def test_every_option_is_classified():
    odd = [f"{command} {_name(a)}: {_kind(command, a)}" for command, p in _commands().items() for a in _options(p)
           if _kind(command, a) not in ("number", "path", "name")]
    assert not odd, ("give these options a dastat.cli._checks type (or list a name option in NAMES): "
                     + "; ".join(odd))


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory):
    from dastat import store as results_store
    from dastat.stats import load_reference

    folder = tmp_path_factory.mktemp("store")
    points = folder / "points.csv"
    load_reference("paper").to_csv(points, index=False)
    path = folder / "s.sqlite"
    with results_store.open(path) as db:
        from dastat.store.ingest import ingest

        ingest([points], db, constants={"protocol": "paper", "randomness": "batch", "set_size": "640"})
    return path


@pytest.fixture()
def tripwire(monkeypatch):
    def reached(*args, **kwargs):
        raise Reached

    import dastat.bench.augment
    import dastat.bench.probe
    import dastat.bench.train
    import dastat.probe
    import dastat.runs.executors
    import dastat.study
    import dastat.train
    import dastat.train.evaluate

    for module, name in ((dastat.probe, "rank"), (dastat.probe, "t_stddev"), (dastat.train, "distill"),
                         (dastat.runs.executors, "make_executor"), (dastat.study, "run_study"),
                         (dastat.train.evaluate, "evaluate"), (dastat.bench.probe, "run"),
                         (dastat.bench.augment, "run"), (dastat.bench.train, "run")):
        monkeypatch.setattr(module, name, reached)


def _workdir(root: Path, store: Path) -> dict[str, str]:
    root.mkdir()
    (root / "out").mkdir()
    (root / "folder").mkdir()
    (root / "file.txt").write_text("some text\n")
    (root / "junk.bin").write_bytes(bytes((i * 151 + 7) % 256 for i in range(4096)))
    shutil.copy(store, root / "s.sqlite")
    (root / "points.csv").write_text("teacher,student,dataset,scheme,test_loss\nresnet56,resnet20,digits,flip,1.0\n")
    (root / "sweep.yaml").write_text(_SWEEP)
    return {"out": str(root / "out"), "sweep": str(root / "sweep.yaml"), "csv": str(root / "points.csv"),
            "missing": str(root / "missing" / "x.sqlite"), "folder": str(root / "folder"),
            "file": str(root / "file.txt"), "unwritable": "/proc/dastat-nowhere/x", "junk": str(root / "junk.bin")}


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's digest; SQLite's -wal/-shm are left out (a write reaches the store file when it closes)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*")) if not p.name.endswith(("-wal", "-shm"))}


@pytest.mark.parametrize(("command", "action", "value"), CASES)
def test_bad_values_end_in_one_line(command, action, value, tmp_path, pristine_store, tripwire, monkeypatch, capsys):
    where = _workdir(tmp_path / "w", pristine_store)
    monkeypatch.chdir(tmp_path / "w")
    monkeypatch.setenv("DASTAT_STORE", str(tmp_path / "w" / "s.sqlite"))
    monkeypatch.delenv("DASTAT_DEBUG", raising=False)
    given = where.get(value, value)
    name = _name(action)
    base = [b.format(**where) for b in BASE.get(command, [])]
    if name in base:  # the option under test replaces the base one
        at = base.index(name)
        del base[at: at + 2]
    if action.option_strings:
        count = action.nargs if isinstance(action.nargs, int) else 1
        argv = [command, *base, name, *[given] * count]
    else:
        argv = [command, *[b for b in base if b not in (where["sweep"], where["csv"])], given]
    before = _snapshot(tmp_path / "w")
    try:
        code = main(argv)
    except Reached:
        assert value not in NEVER_LEGAL, f"{' '.join(argv)} reached the work with {value}"
        return
    err = capsys.readouterr().err
    assert code in (0, 1, 2), f"{' '.join(argv)} exited {code}"
    assert "Traceback" not in err and "internal error" not in err, err
    if value in NEVER_LEGAL:
        assert code == 2, f"{' '.join(argv)} accepted {value}"
    lines = err.strip().splitlines()
    # A refusal is one line; a partial failure (exit 1: a skipped file) reports on stdout, at most a line here.
    assert len(lines) == 1 if code == 2 else len(lines) <= 1, err
    if code == 2:
        assert _snapshot(tmp_path / "w") == before, f"{' '.join(argv)} was refused but wrote"
    assert os.getcwd() == str(tmp_path / "w")
