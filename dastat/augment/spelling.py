"""How a scheme is written: a registered name, its parameters, and compositions (docs/method.md, "Schemes").

``mixup(alpha=0.2)``, ``randaugment(m=9,n=2)``, ``flip_crop+cutout(side=4)``. One parser reads every
spelling and writes one canonical name back, so the store, the probes and the students agree on what a
scheme is called: stages in the order written, parameters sorted by name, parameters at their declared
default dropped (``mixup(alpha=1)`` is ``mixup``), numbers written shortest (``2.0`` is ``2``).
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dastat.checks import SCHEME_STAGE, split_outside_parentheses
from dastat.errors import InvalidArgumentError
from dastat.registry import Registry

# Settings of the whole run, never of one scheme: the probe and the trainer pass them to every scheme.
RUN_SETTINGS = ("image_size", "randomness", "fill")

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?\d+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # a string value: no character a file name or a CSV cell minds

# What other libraries call dastat's parameters (CutMix's beta, Cutout's length, torchvision's num_ops, ...).
_SYNONYMS = {"beta": "alpha", "size": "side", "length": "side", "padding": "pad", "num_ops": "n",
             "magnitude": "m", "prob": "p", "probability": "p"}


@dataclass(frozen=True)
class Stage:
    """One scheme of a name: its registry name and the parameters written for it."""

    scheme: str
    params: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.scheme
        return f"{self.scheme}({','.join(f'{k}={format_value(v)}' for k, v in self.params)})"


def format_value(value: Any) -> str:
    """A parameter value as the canonical name writes it: ints as ints, floats shortest, words as they are."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _value(text: str, where: str) -> Any:
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise InvalidArgumentError(f"scheme {where!r}: {text!r} is not a finite number")
        return number
    if _WORD.fullmatch(text):
        return text
    raise InvalidArgumentError(
        f"scheme {where!r}: cannot read the value {text!r}; a value is a number (0.2, 4) or a word of "
        "letters, digits, '_', '.' and '-' (svhn)"
    )


def split_names(text: str) -> list[str]:
    """Scheme names from a comma-separated list (``--schemes``), commas inside parentheses kept.

    ``split_names("mixup,randaugment(n=2,m=9)") == ["mixup", "randaugment(n=2,m=9)"]``; blanks dropped.
    """
    return [part.strip() for part in split_outside_parentheses(text) if part.strip()]


def _read_stage(text: str, where: str) -> tuple[str, list[tuple[str, Any]]]:
    match = SCHEME_STAGE.fullmatch(text.strip())
    if not match:
        raise InvalidArgumentError(
            f"cannot read the scheme {where!r}: write a scheme as name or name(key=value,...) and join "
            "schemes with '+', e.g. 'mixup(alpha=0.2)' or 'flip_crop+cutout(side=4)'"
        )
    params = []
    body = match.group("params")
    if body is not None and body.strip():
        for item in body.split(","):
            key, equals, value = item.partition("=")
            if not equals or not _KEY.fullmatch(key.strip()):
                raise InvalidArgumentError(
                    f"scheme {where!r}: {item.strip()!r} is not key=value (e.g. 'mixup(alpha=0.2)')"
                )
            params.append((key.strip(), _value(value, where)))
    return match.group("scheme"), params


def declared_parameters(builder: Callable) -> dict[str, Any] | None:
    """A builder's keyword parameters and their defaults, following ``**kwargs`` up a class's bases; None = any."""
    functions = [c.__dict__["__init__"] for c in builder.__mro__ if "__init__" in c.__dict__] \
        if isinstance(builder, type) else [builder]
    declared: dict[str, Any] = {}
    for function in functions:
        params = inspect.signature(function).parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                declared.setdefault(p.name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return declared
    return None


def _unknown_parameter(scheme: str, key: str, known: list[str], where: str) -> InvalidArgumentError:
    synonym = _SYNONYMS.get(key.lower())
    near = [synonym] if synonym in known else difflib.get_close_matches(key, known, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
    takes = ", ".join(known) or "no parameters"
    return InvalidArgumentError(f"scheme {scheme!r} has no parameter {key!r} (in {where!r}).{hint} "
                                f"{scheme} takes: {takes}.")


def _checked_stage(scheme: str, params: list[tuple[str, Any]], registry: Registry, where: str) -> Stage:
    builder = registry.get(scheme)  # UnknownNameError with the nearest names
    declared = declared_parameters(builder)
    known = sorted(set(declared or ()) - set(RUN_SETTINGS))
    kept, seen = {}, set()
    for key, value in params:
        if key in RUN_SETTINGS:
            raise InvalidArgumentError(
                f"scheme {where!r}: {key} is a setting of the whole run (--{key.replace('_', '-')} or the "
                f"{key}= argument), not of one scheme; leave it out of the name"
            )
        if declared is not None and key not in declared:
            raise _unknown_parameter(scheme, key, known, where)
        if key in seen:
            raise InvalidArgumentError(f"scheme {where!r} sets {key} twice")
        seen.add(key)
        default = (declared or {}).get(key, inspect.Parameter.empty)
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if default is inspect.Parameter.empty or default is None or value != default:
            kept[key] = value
    return Stage(scheme, tuple(sorted(kept.items())))


def parse(name: str, registry: Registry, extra: Mapping[str, Any] | None = None) -> tuple[Stage, ...]:
    """The stages of a scheme name, checked against ``registry`` and in canonical form.

    ``extra`` holds parameters given apart from the name (``get("cutout", side=4)``); they join the
    name's only stage. Raises UnknownNameError for an unknown scheme and InvalidArgumentError for a
    spelling, parameter or value it cannot read.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"a scheme name must be a non-empty string such as 'mixup' or "
                                   f"'mixup(alpha=0.2)'; got {name!r}")
    where = name.strip()
    read = [_read_stage(part, where) for part in split_outside_parentheses(where, "+")]
    extra = {k: v for k, v in (extra or {}).items() if v is not None}
    if extra:
        if len(read) > 1:
            raise InvalidArgumentError(f"settings {sorted(extra)} apply to one scheme; write them in the "
                                       f"name of each stage of {where!r} instead")
        written = dict(read[0][1])
        clash = sorted(k for k in extra if k in written and written[k] != extra[k])
        if clash:
            raise InvalidArgumentError(f"scheme {where!r} sets {', '.join(clash)} in its name and again, "
                                       "differently, as an argument; set each once")
        read = [(read[0][0], [*read[0][1], *((k, v) for k, v in extra.items() if k not in written)])]
    return tuple(_checked_stage(scheme, params, registry, where) for scheme, params in read)


def spell(stages: tuple[Stage, ...]) -> str:
    """The canonical name of parsed stages."""
    return "+".join(map(str, stages))
