"""Distillation methods of the reference code (RepDistiller's zoo), each a loss plus what it trains.

``method_loss(name, **settings)`` gives a method's loss as a drop-in for the reference's criterion class;
``list_methods()`` lists the registered methods; ``register_method`` adds one. The trainer composes
``gamma*CE + alpha*(KL(x) + KL(x')) + beta*L_method(x)`` (``dastat.train.loss.distillation_loss``).
"""

from dastat.train.methods import (  # noqa: F401 (each module registers its method)
    abound,
    attention,
    correlation,
    crd,
    factor,
    fsp,
    hint,
    kdsvd,
    logits,
    nst,
    pkt,
    rkd,
    similarity,
    vid,
)
from dastat.train.methods.registry import Method, build_term, get_method, list_methods, method_loss, register_method
from dastat.train.methods.term import MethodTerm, PairShapes

__all__ = ["Method", "MethodTerm", "PairShapes", "build_term", "get_method", "list_methods", "method_loss",
           "register_method"]
