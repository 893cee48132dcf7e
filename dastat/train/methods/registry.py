"""The registry of distillation methods: ``list_methods()``, ``register_method``, ``method_loss``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from dastat.errors import InvalidArgumentError
from dastat.registry import Registry
from dastat.train.methods.term import MethodTerm, PairShapes

# build(shapes, **options) -> MethodTerm, or None when the method adds nothing to plain KD's step.
Builder = Callable[..., "MethodTerm | None"]


@dataclass(frozen=True)
class Method:
    """A registered method.

    Attributes
    ----------
    name : str
        Registry name (RepDistiller's ``--distill`` value).
    summary : str
        One line: what it transfers and where it comes from.
    loss : type
        The loss class, a drop-in for the reference's criterion (``method_loss(name, **settings)``).
    beta : float
        Default weight of the method's term.
    build : callable
        ``build(shapes, **options)``: the training step's :class:`MethodTerm` (or None).
    """

    name: str
    summary: str
    loss: type[nn.Module]
    beta: float
    build: Builder


_METHODS: Registry[Method] = Registry("distillation method")


def register_method(name: str, *, summary: str, loss: type[nn.Module], beta: float) -> Callable[[Builder], Builder]:
    """Decorator filing ``build(shapes, **options) -> MethodTerm | None`` as method ``name``.

    Example
    -------
    >>> @register_method("mine", summary="my loss on the pooled features", loss=MyLoss, beta=1.0)
    ... def build(shapes, **options):
    ...     return MyTerm(**options)
    """

    def add(build: Builder) -> Builder:
        _METHODS.register(name)(Method(name, summary, loss, float(beta), build))
        return build

    return add


def list_methods() -> dict[str, str]:
    """The registered methods, each with its one-line summary (``{name: summary}``)."""
    return {name: _METHODS.get(name).summary for name in _METHODS.names()}


def get_method(name: str) -> Method:
    """The :class:`Method` registered as ``name`` (UnknownNameError suggests close names)."""
    return _METHODS.get(name)


def _call_with_settings(factory: Callable, what: str, settings: dict[str, Any]):
    settings = {k: v for k, v in settings.items() if v is not None}
    signature = inspect.signature(factory)
    try:
        signature.bind(**settings)
    except TypeError as err:  # an unknown setting, or a required one missing
        allowed = ", ".join(signature.parameters) or "none"
        raise InvalidArgumentError(f"{what}: {err}; its settings: {allowed}") from err
    return factory(**settings)


def method_loss(name: str, **settings: Any) -> nn.Module:
    """The loss of method ``name`` as an ``nn.Module``, a drop-in for RepDistiller's criterion class.

    Settings, ``forward`` arguments, state-dict names and return values are the reference's
    (``method_loss("attention", p=2)(g_s, g_t)`` returns one value per feature pair, as ``Attention`` does).

    Parameters
    ----------
    name : str
        A name of :func:`list_methods`.
    **settings
        The reference constructor's arguments (``T`` for kd, ``w_d``/``w_a`` for rkd, CRD's
        ``s_dim``, ``t_dim``, ``feat_dim``, ``nce_k``, ``nce_t``, ``nce_m``, ``n_data``, ...);
        None leaves a default in place.

    Raises
    ------
    UnknownNameError
        No such method.
    InvalidArgumentError
        A setting the loss does not take, or a bad value.
    """
    method = get_method(name)
    return _call_with_settings(method.loss, f"method_loss({name!r})", settings)


def build_term(name: str, shapes: PairShapes, options: dict[str, Any] | None = None) -> MethodTerm | None:
    """The training step's term of method ``name`` for a pair (None for plain KD).

    ``options`` are the builder's keyword arguments (``nce_k`` for crd, ``init_epochs`` is not one:
    it belongs to the trainer); an unknown one is refused, naming the allowed ones.
    """
    method = get_method(name)
    allowed = [p for p in inspect.signature(method.build).parameters if p != "shapes"]
    unknown = sorted(set(options or {}) - set(allowed))
    if unknown:
        raise InvalidArgumentError(
            f"method {name!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(allowed) or 'none'}"
        )
    return method.build(shapes, **{k: v for k, v in (options or {}).items() if v is not None})
