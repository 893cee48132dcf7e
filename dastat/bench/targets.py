"""A benchmark's target row: what was measured, the bound it is held to, and whether it met it.

The bound is written once: the target's text and the comparison both come from it.
"""

from __future__ import annotations


def at_most(what: str, value: float, bound: float, unit: str = "") -> dict:
    """The row of a target ``value <= bound``; ``unit`` follows the bound in the text (``" s wall"``)."""
    return {"what": what, "target": f"<= {bound}{unit}", "value": value, "met": value <= bound}


def at_least(what: str, value: float, bound: float, unit: str = "") -> dict:
    """The row of a target ``value >= bound``; ``unit`` follows the bound in the text (``"x"``)."""
    return {"what": what, "target": f">= {bound}{unit}", "value": value, "met": value >= bound}


__all__ = ["at_least", "at_most"]
