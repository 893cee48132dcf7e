"""``dastat train --method``: refusals exit 2 with the message; options are parsed as numbers."""

from __future__ import annotations

import pytest

from dastat.cli import main
from dastat.cli.train import _options


@pytest.mark.parametrize(("argv", "message"), [
    (["--method", "crdd"], "unknown distillation method 'crdd'. Did you mean 'crd'?"),
    (["--method", "crd", "--method-option", "nce_k"], "--method-option: takes KEY=VALUE"),
    (["--method", "crd", "--method-option", "nce_q=4"], "takes no option 'nce_q'"),
    (["--method", "attention", "--beta", "-1"], "--beta: must be a number in [0, inf)"),
])
def test_bad_method_flags_exit_2_with_the_reason(capsys, argv, message):
    assert main(["train", "--epochs", "1", "--device", "cpu", *argv]) == 2
    assert message in capsys.readouterr().err


def test_method_options_become_ints_floats_or_text():
    assert _options(["nce_k=4096", "nce_t=0.1", "mode=exact"]) == {"nce_k": 4096, "nce_t": 0.1, "mode": "exact"}
