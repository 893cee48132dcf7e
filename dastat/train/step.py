"""The KD step of the paper's recipe (docs/method.md, "KD recipe"), one for a single run and for a cohort.

Per step and member: x' = scheme(x); the teacher, in eval mode under inference mode, scores every
group's x and every member's x' in one forward; the student takes x and x' in two passes (BatchNorm sees
each batch alone, as in the reference code); the loss is ``gamma*CE(s(x),y) + alpha*(KL(x) + KL(x'))``,
plus ``beta*L_method(x)`` on the features of x when a distillation method adds a term.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dastat.errors import InvalidArgumentError
from dastat.train.loop import MakeStep, Member, StepFn
from dastat.train.loss import CE_WEIGHT, KD_WEIGHT, distillation_loss


@dataclass(frozen=True)
class Weights:
    """The loss weights: CE, the KL terms, the method's term (docs/method.md, "KD recipe")."""

    gamma: float = CE_WEIGHT
    alpha: float = KD_WEIGHT
    beta: float = 0.0


def kd_step(teacher: nn.Module, members: list[Member], forward: Callable[..., object], *,
            weights: Weights = Weights(), term: nn.Module | None = None) -> MakeStep:
    """``make_step`` for :func:`dastat.train.loop.run_loop`: every member's KD loss ``[N]`` per batch.

    ``forward(train_model, batches, **kw)`` gives the members' logits ``[N, B, C]`` (``Trainee.forward``);
    ``term`` is the method's term (one member only: cohorts train plain KD).
    """

    def make_step(train_model: nn.Module, groups: list[dict[str, torch.Generator]]) -> StepFn:
        def step(xs: list[Tensor], labels: list[Tensor], index: list[Tensor]) -> Tensor:
            x_primes = [_scheme_view(m, xs[m.group]) for m in members]
            if len({len(xp) for xp in x_primes}) > 1:
                raise InvalidArgumentError(
                    f"the members' schemes made x' batches of sizes {sorted({len(xp) for xp in x_primes})} from "
                    "one batch; train schemes that keep a fixed count alone (cohort size 1)")
            b, bp, g = len(xs[0]), len(x_primes[0]), len(xs)
            with torch.inference_mode():
                out_t = teacher(torch.cat([*xs, *x_primes]), **_feat_kw(term))  # [G*B + N*B', C]
            # Inference tensors cannot be saved for backward: clone outside inference mode.
            feat_t, logits_t = ([f[:b].clone() for f in out_t[0]], out_t[1].clone()) if term else (None, out_t.clone())
            out_s = forward(train_model, [xs[m.group] for m in members], **_feat_kw(term))  # [N, B, C]
            feat_s, logits_s_x = out_s if term else (None, out_s)
            logits_s_xp = forward(train_model, x_primes)  # [N, B', C]
            losses = [
                distillation_loss(logits_s_x[i], logits_t[m.group * b:(m.group + 1) * b], labels[m.group],
                                  logits_s_xp[i], logits_t[g * b + i * bp:g * b + (i + 1) * bp],
                                  gamma=weights.gamma, alpha=weights.alpha, beta=weights.beta, term=term,
                                  feat_s=feat_s, feat_t=feat_t, index=index[m.group], generator=m.streams.get("method"))
                for i, m in enumerate(members)
            ]
            return torch.stack(losses)  # [N]

        return step

    return make_step


def _feat_kw(term: nn.Module | None) -> dict[str, bool]:
    # The method's term reads the networks' features of x (the teacher's of x and x' at once; it uses x's).
    return {} if term is None else {"is_feat": True, "preact": term.preact}


def _scheme_view(m: Member, x: Tensor) -> Tensor:
    if len(x) < getattr(m.scheme, "min_batch", 1):
        return x  # a lone last image cannot be mixed with a partner
    with torch.no_grad():
        return m.scheme(x, generator=m.streams["scheme"], scorer=m.scorer)
