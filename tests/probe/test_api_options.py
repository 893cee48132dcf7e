"""ProbeOptions: one object with the probe's defaults and ranges, the same for the API and the CLI."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from dastat import probe
from dastat.cli.probe import add_probe_options, probe_options
from dastat.errors import InvalidArgumentError
from dastat.probe import ProbeOptions


def _parser(rank: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_probe_options(p, rank=rank)
    return p


def test_the_cli_defaults_are_the_options_defaults():
    assert probe_options(_parser().parse_args([])) == ProbeOptions()
    assert probe_options(_parser(rank=False).parse_args([])) == ProbeOptions()
    given = probe_options(_parser().parse_args(["--rtol", "0.02", "--max-sets", "24", "--min-diff", "0.1",
                                                "--protocol", "paper", "--resolve"]))
    assert given == ProbeOptions(rtol=0.02, max_sets=24, min_diff=0.1, protocol="paper", resolve=True)


@pytest.mark.parametrize(("name", "bad", "good"), [
    ("rtol", 1.0, 0.5), ("rtol", 0.0, 1e-9), ("min_diff", 1.5, 1.0), ("min_diff", -0.1, 0.0),
    ("max_sets", 1, 2), ("min_sets", 1, 2), ("epochs", 0, 1), ("seed", -1, 0), ("batch_size", 0, 1),
])
def test_the_cli_and_the_api_refuse_the_same_values(name, bad, good):
    ProbeOptions(**{name: good})
    with pytest.raises(InvalidArgumentError, match=name):
        ProbeOptions(**{name: bad})
    flag = "--" + name.replace("_", "-")
    _parser().parse_args([flag, str(good)])
    with pytest.raises(argparse.ArgumentError, match="must be"):
        _parser().parse_args([flag, str(bad)])


def test_every_field_but_the_few_kept_from_the_command_line_is_an_option_of_rank():
    rank_flags = {a.dest for a in _parser()._actions}
    probe_flags = {a.dest for a in _parser(rank=False)._actions}
    names = {f.name for f in fields(ProbeOptions)}
    assert names - rank_flags == {"check_every", "confidence", "set_blocks"}
    assert names - probe_flags == {"check_every", "confidence", "set_blocks", "resolve", "min_diff"}


def test_options_are_checked_once_whole_or_as_keywords(digits, teacher):
    with pytest.raises(InvalidArgumentError, match=r"unknown probe option.*store"):
        probe.measure_scheme(teacher, digits, "flip", store="s.sqlite")
    with pytest.raises(InvalidArgumentError, match="set_blocks must be even"):
        ProbeOptions(set_blocks=3)
    with pytest.raises(InvalidArgumentError, match="give protocol= by name"):
        probe.measure_scheme(teacher, digits, "flip", "paper")
    assert ProbeOptions().updated(rtol=0.1) == ProbeOptions(rtol=0.1)


def test_max_sets_is_a_bound_not_an_allocation(digits, teacher):
    # 10^12 sets allocated up front would be ~10^17 bytes; the record grows by rounds instead.
    result = probe.measure_scheme(teacher, digits, "flip", max_sets=10**12, rtol=0.5, min_sets=2, check_every=2)
    assert 2 <= result.n_sets < 100
