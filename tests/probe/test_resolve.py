"""``rank(resolve=True)``: which adjacent pairs keep sampling, and ties within ``min_diff``."""

from __future__ import annotations

import torch

from dastat import augment, probe
from dastat.probe import ProbeOptions, engine, protocols

CFG = protocols.plan(ProbeOptions(epochs=1, max_sets=100, min_sets=3, check_every=3), 1000)


def _output(means: dict[str, torch.Tensor], counts: dict[str, int]) -> engine.EngineOutput:
    """An engine output holding only unit means (units past a scheme's count are NaN)."""
    names = list(means)
    n, c = max(m.shape[0] for m in means.values()), next(iter(means.values())).shape[1]
    records = engine.UnitRecords.empty(len(names), c).map(lambda t: t.new_zeros(n, *t.shape[1:]))
    records.means = torch.stack([torch.cat([m, m.new_full((n - len(m), c), float("nan"))]) for m in means.values()], 1)
    return engine.EngineOutput(names, records, counts, c, 0.0, False)


def _sets(seed: int, n: int = 30, spread: float = 0.01) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.1 + spread * torch.randn(n, 10, generator=g, dtype=torch.float64)).clamp_min(0)


def test_a_significant_pair_stops_and_an_unsettled_one_goes_on():
    low, high = _sets(0, spread=0.01), _sets(1, spread=0.03)
    out = _output({"a": low, "b": high}, {"a": 30, "b": 30})
    assert protocols.unresolved(out, ["a", "b"], CFG) == set()
    # the same sets twice plus a little noise: the difference is not significant
    near = low + 1e-4 * _sets(2)
    out = _output({"a": low, "b": near}, {"a": 30, "b": 30})
    assert protocols.unresolved(out, ["a", "b"], CFG) == {"a", "b"}


def test_a_pair_within_min_diff_is_tied_and_stops():
    low = _sets(0)
    near = low + 1e-4 * _sets(2)
    out = _output({"a": low, "b": near}, {"a": 30, "b": 30})
    assert protocols.unresolved(out, ["a", "b"], CFG, min_diff=0.0) == {"a", "b"}
    assert protocols.unresolved(out, ["a", "b"], CFG, min_diff=0.5) == set()


def test_a_pair_with_a_stopped_scheme_is_frozen():
    """b left in an earlier round: more sets of c cannot settle (b, c), so c stops unless another pair needs it."""
    a, b, c = _sets(0, spread=0.001), _sets(1, spread=0.01), _sets(2, spread=0.01)
    out = _output({"a": a, "b": b[:12], "c": c}, {"a": 30, "b": 12, "c": 30})
    assert protocols.unresolved(out, ["a", "b", "c"], CFG) == set()


def test_rank_reports_a_tie_with_its_interval_and_stops_the_pair(digits, teacher):
    fill = tuple(round(255 * m) for m in teacher.mean)
    twin = augment.get("flip", fill=fill)
    twin.name = "flip_twin"  # the same scheme on its own random stream
    kwargs = dict(resolve=True, rtol=0.3, max_sets=24, min_sets=3, check_every=3, device="cpu")
    tied = probe.rank(teacher, digits, [augment.get("flip", fill=fill), twin], min_diff=0.3, **kwargs).table
    first = tied.iloc[0]
    assert bool(first["tied"]) and not first["significant"]
    assert first["diff_ci_low"] <= first["diff_next"] <= first["diff_ci_high"]
    assert max(abs(first["diff_ci_low"]), abs(first["diff_ci_high"])) < 0.3 * first["t_stddev"]
    assert tied["n_sets"].nunique() == 1 and tied["n_sets"].iloc[0] < 24  # stopped before max_sets
    untied = probe.rank(teacher, digits, [augment.get("flip", fill=fill), twin], min_diff=0.0, **kwargs).table
    assert untied["n_sets"].tolist() == [24, 24] and not untied.iloc[0]["significant"]
