"""A target row's text and verdict come from one bound."""

from __future__ import annotations

from dastat.bench.targets import at_least, at_most


def test_at_most_meets_the_bound_itself_and_not_above_it():
    assert at_most("rank wall", 20.0, 20, " s") == {"what": "rank wall", "target": "<= 20 s", "value": 20.0,
                                                     "met": True}
    assert at_most("share", 0.051, 0.05)["met"] is False


def test_at_least_meets_the_bound_itself_and_not_below_it():
    assert at_least("speedup", 2.0, 2.0, "x") == {"what": "speedup", "target": ">= 2.0x", "value": 2.0, "met": True}
    assert at_least("efficiency", 0.89, 0.9)["met"] is False
