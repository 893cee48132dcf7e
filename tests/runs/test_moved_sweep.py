"""The old home of the sweep names says where they went."""

import pytest

import dastat.runs


def test_old_sweep_names_point_to_the_runs_layer():
    from dastat.train import sweep

    with pytest.raises(AttributeError, match=r"moved to dastat\.runs\.run_sweep"):
        sweep.run_sweep  # noqa: B018
    assert hasattr(dastat.runs, "run_sweep")
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        sweep.nothing  # noqa: B018
