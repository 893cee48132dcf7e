"""``ProbeOptions``: every setting of a probe, its default and its range, written once.

``measure_scheme`` and ``rank`` take it (whole, or as keywords that build it), the ``probe`` and
``rank`` commands derive their options from its fields, and a study's ``probe:`` section builds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from dastat.checks import check_choice, check_float, check_int
from dastat.constants import MAX_BATCH, MAX_SEED, PROTOCOLS, RANDOMNESS
from dastat.errors import InvalidArgumentError


def _option(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            open_low: bool = False, open_high: bool = False, choices: tuple[str, ...] | None = None,
            rank_only: bool = False, cli: bool = True) -> Any:
    """A field with its range and help: ``__post_init__`` checks the range, the CLI builds its option from both."""
    return field(default=default, metadata={
        "help": help, "low": low, "high": high, "open_low": open_low, "open_high": open_high,
        "choices": choices, "rank_only": rank_only, "cli": cli,
    })


@dataclass(frozen=True)
class ProbeOptions:
    """How a probe measures T. stddev (docs/method.md, "Protocols"); checked when built.

    A set is ``set_blocks`` blocks of ``batch_size`` rows, alternating x and x' (K = 640 by default).
    ``rtol``, ``max_sets``, ``min_sets`` and ``check_every`` steer protocol ``fast``; ``epochs``
    protocol ``paper``; ``resolve`` and ``min_diff`` only :func:`dastat.probe.rank`.
    """

    protocol: str = _option("fast", "fast: every batch draws its images independently and the probe stops at "
                            "--rtol; paper: the reference procedure, --epochs passes of the shuffled data",
                            choices=PROTOCOLS)
    rtol: float = _option(0.05, "stop when the interval's half-width is at most this fraction of T. stddev (fast)",
                          low=0, high=1, open_low=True, open_high=True)
    max_sets: int = _option(2000, "stop after this many sets at the latest (fast)", low=2)
    min_sets: int = _option(20, "sets before the probe may stop (fast)", low=2)
    check_every: int = _option(8, "sets between two checks of the stopping rule (fast)", low=1, cli=False)
    epochs: int = _option(10, "passes over the data (paper)", low=1)
    confidence: float = _option(0.95, "confidence level of the intervals", low=0, high=1, open_low=True,
                                open_high=True, cli=False)
    randomness: str | None = _option(None, "draw scheme parameters per image (sample) or once per batch "
                                     "(batch); default: sample under fast, batch under paper", choices=RANDOMNESS)
    batch_size: int = _option(64, "images per batch", low=1, high=MAX_BATCH)
    set_blocks: int = _option(10, "blocks of --batch-size rows per set, alternating x and x' (even)", low=2,
                              cli=False)
    seed: int = _option(0, "random seed of every draw (image order, base crop/flip, scheme)", low=0, high=MAX_SEED)
    amp: bool = _option(False, "bf16 autocast for the teacher (CUDA, or a CPU with fast bf16)")
    resolve: bool = _option(False, "keep sampling the schemes of adjacent pairs that are neither significantly "
                            "different nor tied (see --min-diff); the others stop", rank_only=True)
    min_diff: float = _option(0.01, "relative difference below which adjacent schemes are tied: the interval of "
                              "their difference lies within MIN_DIFF x the lower T. stddev", low=0, high=1,
                              rank_only=True)

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        if self.set_blocks % 2:
            raise InvalidArgumentError(f"set_blocks must be even (a block of x, then one of x'); got {self.set_blocks}")

    def updated(self, **changes: Any) -> ProbeOptions:
        """A copy with ``changes`` (names of fields), checked; an unknown name is refused."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise InvalidArgumentError(f"unknown probe option(s) {', '.join(unknown)}; known: "
                                       f"{', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _checked(f, value: Any) -> Any:
    """The value of field ``f`` within its range, or InvalidArgumentError naming the option."""
    meta = f.metadata
    if meta["choices"] is not None:
        return value if value is None and f.default is None else check_choice(value, f.name, meta["choices"])
    if isinstance(f.default, bool):
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"{f.name} must be True or False; got {value!r}")
        return value
    if isinstance(f.default, int):
        return check_int(value, f.name, low=meta["low"], high=meta["high"])
    return check_float(value, f.name, low=meta["low"], high=meta["high"], low_open=meta["open_low"],
                       high_open=meta["open_high"])
