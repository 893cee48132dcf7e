"""Bad and odd values for every option of every sub-command, generated from the argparse definitions.

Every number gets NaN, +-inf, 0, -1, 10^12 and an empty string; every path a missing path, a folder, a
text file, an unwritable place, binary junk, an empty string and a place in a folder nobody may write;
every name an empty string and a name that does not exist. Each case runs ``dastat.cli.main`` in-process
with the heavy work (probing, training, sweeps, studies, benchmarks, evaluation) replaced by a tripwire,
so a case either ends in the CLI's own checks or reaches the tripwire, which means its input passed every
check made before the work starts. A case must end with exit 0, 1 or 2, no traceback, one line on stderr,
no SQLite side files (-wal, -shm) left anywhere, and, when refused, nothing written. NaN, infinities,
empty strings and unknown names are never legal. In the read-only folder, a store is read by the reading
commands and refused, saying so, by the writing ones. A new option is covered the day it is added: a text
option without a dastat.cli._checks type fails ``test_every_option_is_classified``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from read_only import read_only_folder

from dastat.cli import _checks, build_parser, main

STUDIES = Path(__file__).resolve().parents[2] / "results" / "studies"
NUMBERS = ("nan", "inf", "-inf", "0", "-1", "1000000000000", "")
NEVER_LEGAL = {"nan", "inf", "-inf", "", "no_such_name"}  # refused (exit 2) wherever they are given
PATHS = ("missing", "folder", "file", "unwritable", "junk", "", "readonly")
NAMES = ("", "no_such_name")
# Checks of text options: a name that must exist in a registry, or in the results table once it is read.
NAME_CHECKS = (_checks.Name, _checks.Device, _checks.KeyValue)
READING = {"export", "correlate", "plot", "info"}  # commands that only read the store
# Arguments each command needs besides the one under test (a value is filled in by _workdir).
BASE = {
    "probe": ["--scheme", "identity"],
    "plot": ["--out", "{out}/fig.png", "--dataset", "cifar100", "--teacher", "resnet56"],  # one panel: fast
    "sweep": ["{sweep}"],
    "ingest": ["{csv}"],
    "correlate": ["--n-resamples", "0"],
    "compare": [str(STUDIES / "digits"), str(STUDIES / "digits_few")],  # the committed studies, only read
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


def _kind(action: argparse.Action) -> str:
    if isinstance(action.type, _checks.Number):
        return "number"
    if isinstance(action.type, _checks._PathCheck):
        return "path"
    if isinstance(action.type, NAME_CHECKS):
        return "name"
    return "unchecked"


def _cases():
    values = {"number": NUMBERS, "path": PATHS, "name": NAMES}
    for command, command_parser in _commands().items():
        for action in _options(command_parser):
            for value in values.get(_kind(action), ()):
                yield pytest.param(command, action, value, id=f"{command} {_name(action)} {value or 'empty'}")


CASES = list(_cases())


def test_figure_suffixes_are_the_ones_save_figure_writes():
    from dastat.plot.saving import FORMATS

    assert _checks.FIGURE_SUFFIXES == FORMATS


def test_every_option_is_classified():
    odd = [f"{command} {_name(a)}" for command, p in _commands().items() for a in _options(p)
           if _kind(a) == "unchecked"]
    assert not odd, "give these options a dastat.cli._checks type (Number, a path, Name, ...): " + "; ".join(odd)


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
    """What the commands call to start their work (as the CLI modules reach it), each replaced by Reached."""
    def reached(*args, **kwargs):
        raise Reached

    import dastat.bench.augment
    import dastat.bench.cohort
    import dastat.bench.probe
    import dastat.bench.train
    import dastat.probe
    import dastat.runs.executors
    import dastat.study
    import dastat.train
    import dastat.train.evaluate

    for module, name in ((dastat.probe, "rank"), (dastat.probe, "measure_scheme"), (dastat.train, "distill"),
                         (dastat.runs.executors, "make_executor"), (dastat.study, "run_study"),
                         (dastat.train.evaluate, "evaluate"), (dastat.bench.probe, "run"),
                         (dastat.bench.augment, "run"), (dastat.bench.train, "run"),
                         (dastat.bench.train, "run_methods"), (dastat.bench.cohort, "run")):
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
    shared = root / "ro"  # made read-only while a "readonly" case runs
    (shared / "folder").mkdir(parents=True)
    for name in ("s.sqlite", "points.csv", "sweep.yaml", "file.txt"):
        shutil.copy(root / name, shared / name)
    return {"out": str(root / "out"), "sweep": str(root / "sweep.yaml"), "csv": str(root / "points.csv"),
            "missing": str(root / "missing" / "x.sqlite"), "folder": str(root / "folder"),
            "file": str(root / "file.txt"), "unwritable": "/proc/dastat-nowhere/x", "junk": str(root / "junk.bin"),
            "ro": str(shared)}


def _in_read_only_folder(action: argparse.Action, where: dict[str, str]) -> str:
    """The option's kind of path, inside the read-only folder: what it reads is there, what it writes is new."""
    check, shared = action.type, Path(where["ro"])
    if isinstance(check, _checks.StoreFile):
        return str(shared / "s.sqlite")
    if isinstance(check, _checks.OutputFile):
        return str(shared / f"new.{(check.suffixes or ('csv',))[0]}")
    if isinstance(check, _checks.OutputFolder):
        return str(shared / "new")
    if isinstance(check, _checks.InputFolder):
        return str(shared / "folder")
    if action.dest == "config":
        return str(shared / "sweep.yaml")
    return str(shared / ("points.csv" if action.dest in ("csv", "paths") else "file.txt"))


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's digest, SQLite's side files included: a refused command writes nothing, even beside the store."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _side_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


def _run(argv: list[str], read_only: Path | None) -> int:
    if read_only is None:
        return main(argv)
    with read_only_folder(read_only):
        return main(argv)


@pytest.mark.parametrize(("command", "action", "value"), CASES)
def test_bad_values_end_in_one_line(command, action, value, tmp_path, pristine_store, tripwire, monkeypatch, capsys):
    where = _workdir(tmp_path / "w", pristine_store)
    monkeypatch.chdir(tmp_path / "w")
    monkeypatch.setenv("DASTAT_STORE", str(tmp_path / "w" / "s.sqlite"))
    monkeypatch.delenv("DASTAT_DEBUG", raising=False)
    given = _in_read_only_folder(action, where) if value == "readonly" else where.get(value, value)
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
        code = _run(argv, Path(where["ro"]) if value == "readonly" else None)
    except Reached:
        assert value not in NEVER_LEGAL, f"{' '.join(argv)} reached the work with {value!r}"
        assert not _side_files(tmp_path / "w"), f"{' '.join(argv)} left {_side_files(tmp_path / 'w')}"
        return
    err = capsys.readouterr().err
    assert code in (0, 1, 2), f"{' '.join(argv)} exited {code}"
    assert "Traceback" not in err and "internal error" not in err, err
    if value in NEVER_LEGAL:
        assert code == 2, f"{' '.join(argv)} accepted {value!r}"
    lines = err.strip().splitlines()
    # A refusal is one line; a partial failure (exit 1: a skipped file) reports on stdout, at most a line here.
    assert len(lines) == 1 if code == 2 else len(lines) <= 1, err
    if code == 2:
        assert _snapshot(tmp_path / "w") == before, f"{' '.join(argv)} was refused but wrote"
    assert not _side_files(tmp_path / "w"), f"{' '.join(argv)} left {_side_files(tmp_path / 'w')}"
    if value == "readonly":
        _check_read_only_case(command, action, argv, code, err)
    assert os.getcwd() == str(tmp_path / "w")


def _check_read_only_case(command: str, action: argparse.Action, argv: list[str], code: int, err: str) -> None:
    """A folder nobody may write refuses writing there, with a message that says so, and nothing else."""
    writes = isinstance(action.type, _checks.OutputFile | _checks.OutputFolder) or (
        isinstance(action.type, _checks.StoreFile) and command not in READING)
    if writes:
        assert code == 2 and ("read-only" in err or "cannot write" in err), f"{' '.join(argv)}: {err}"
    elif code == 2:
        assert "read-only" not in err and "cannot write" not in err and "unable to open" not in err, \
            f"{' '.join(argv)} refused to read in a read-only folder: {err}"
    if isinstance(action.type, _checks.StoreFile) and command in READING:
        assert code == 0, f"{' '.join(argv)} could not read a store in a read-only folder: {err}"
