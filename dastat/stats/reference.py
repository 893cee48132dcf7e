"""Reference data shipped with dastat: the points of the paper's Figure 4."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from dastat.errors import UnknownNameError

# name -> file under dastat/stats/data (see results/reference/README.md for provenance)
_REFERENCES = {"paper": "paper_fig4.csv", "paper_printed": "paper_fig4_printed_cifar100.csv"}


def list_references() -> list[str]:
    """Names accepted by :func:`load_reference`."""
    return sorted(_REFERENCES)


def load_reference(name: str = "paper") -> pd.DataFrame:
    """A bundled reference table.

    Parameters
    ----------
    name : {"paper", "paper_printed"}
        "paper": the 72 points of Figure 4 of Wang et al. (NeurIPS 2022), 8 panels x 9 schemes, with
        the columns of ``dastat.store.open().table()`` (dataset, teacher, student, scheme, t_stddev,
        t_stddev_err, s_test_loss, s_test_loss_err). "paper_printed": the correlations printed in the
        titles of its four CIFAR-100 panels.

    Returns
    -------
    DataFrame

    Raises
    ------
    UnknownNameError
        ``name`` is not a bundled reference.
    """
    if name not in _REFERENCES:
        raise UnknownNameError("reference", name, _REFERENCES)
    with resources.files("dastat.stats").joinpath("data", _REFERENCES[name]).open("r") as fh:
        return pd.read_csv(fh)
