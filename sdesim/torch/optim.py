"""SVAG, its adaptive versions and noisy GD as ``torch.optim`` optimizers, for a training loop of your own.

====================  ===========================================================================================
``SVAG``              small step x ← x − (η/l)(g + λx), g = c₁∇L_γ₁ + c₂∇L_γ₂, c₁,₂ = (1 ± √(2l−1))/2;
                      l small steps per effective step; l = 1 is torch.optim.SGD                       eq. (5)
``RMSpropSVAG``,      the update of ``sdesim.torch.adaptive`` with η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl on the SVAG
``AdamSVAG``,         gradient with l²; l² small steps per effective step; l = 1 is torch.optim.RMSprop(alpha=β),
``PaperRMSpropSVAG``  torch.optim.Adam, torch.optim.Adam(betas=(0, β))
``AdamWSVAG``         AdamSVAG with AdamW's decoupled decay x ← x(1 − (η/l)(λ/l)); l = 1 is torch.optim.AdamW
``NoisyGD``           x ← x − η(∇L + ε + λx), ε ~ N(0, f·Σ₁/B) exactly, from loss weights δᵢ (``sdesim.torch.ngd``)
====================  ===========================================================================================

λ is eq. (7)'s weight decay (``weight_decay``, unchanged across l).  ``.grad`` holds g: the loop computes
each batch's loss in its own forward pass and calls ``opt.combine(loss1, loss2).backward()`` (at l = 1
``opt.combine(loss)``: one batch, SGD), or ``opt.backward(loss1, loss2)``, which with ``clip_norm`` = c
clips each batch's gradient to norm c before combining them (``sdesim.torch.clipping``).  Each param
group's own hyperparameters are honoured, or refused with the reason (``sdesim.torch.param_groups``).  The
optimizer counts its small steps (``small_steps_taken``, saved by ``state_dict``); effective step k is small
steps lk..lk+l−1 (l² for the adaptive methods), time kη (kη²).

What they share is in ``sdesim.torch.small_steps`` (the counter and the watch) and
``sdesim.torch.svag_family`` (two batches: ``combine``, ``backward``, ``batch``, ``split``); ``NoisyGD`` is in
``sdesim.torch.noisy_gd``.  This module holds the optimizers' update rules.

Step an lr scheduler once per effective step, when ``opt.ends_effective_step``: every small step of an
effective step uses one learning rate η_k.  A learning rate set in the middle of an effective step (by a
scheduler's ``step()`` or by hand, even to the same value) is refused at the next ``opt.step()``: this
catches the loop that steps its scheduler after every ``opt.step()`` (l small steps per effective step).
"""

from __future__ import annotations

import torch

from sdesim._checks import decay
from sdesim.torch._checks import strict_positive_int
from sdesim.torch.adaptive import AdaptiveState, adaptive_step, check_hyperparameters
from sdesim.torch.noisy_gd import NoisyGD, NoisyGDChunk
from sdesim.torch.small_steps import SmallStepOptimizer, gradient_step
from sdesim.torch.svag_family import SVAGFamily

__all__ = ["SVAG", "RMSpropSVAG", "AdamSVAG", "PaperRMSpropSVAG", "AdamWSVAG", "NoisyGD", "NoisyGDChunk",
           "SVAGFamily", "SmallStepOptimizer", "gradient_step"]


class SVAG(SVAGFamily):
    """SVAG (eq. (5)) as a ``torch.optim.Optimizer``: each ``step()`` is one small step x ← x − (η/l)(g + λx),
    g in ``.grad`` (``opt.combine(loss1, loss2).backward()``); ``small_steps`` = l per effective step.
    l = 1 is ``torch.optim.SGD(lr=η, weight_decay=λ)`` bit for bit.

    ``unvalidated_momentum`` = β > 0 adds heavy-ball momentum, b ← β_l b + (g + λx), x ← x − (η/l²) b with
    β_l = 1 − (1 − β)/l: at l = 1 ``torch.optim.SGD(momentum=β)`` bit for bit; for l > 1 it is SVAG's rule
    (η → η/l, 1 − β → (1 − β)/l) applied to the averaged form m = (1 − β)b, x ← x − (η/(1 − β)) m.  UNVALIDATED:
    the paper has no theorem for SVAG with momentum (its experiments use none); whether SVAG(l) then tracks
    l = 1 is only measured (validation/figure_svag_momentum.py), not proved.
    """

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *,
                 unvalidated_momentum: float = 0.0, clip_norm: float | None = None, foreach: bool | None = None):
        l = strict_positive_int("l", l)
        self.momentum = _momentum("unvalidated_momentum", unvalidated_momentum)
        self._rescale_momentum = True    # False only in validation/figure_svag_momentum.py's negative control
        if foreach is not None and not isinstance(foreach, bool):
            raise ValueError(f"foreach must be True, False or None (as torch chooses), got {foreach!r}")
        # torch's per-group keys: 'momentum' only when momentum is on (OneCycleLR then cycles it), 'foreach'
        group_defaults = {"foreach": foreach, **({"momentum": self.momentum} if self.momentum else {})}
        super().__init__(params, lr, weight_decay, l=l, small_steps=l, clip_norm=clip_norm,
                         settings={"method": "svag", "l": l, "unvalidated_momentum": self.momentum},
                         group_defaults=group_defaults)

    def _check_group(self, index: int, group: dict) -> None:
        super()._check_group(index, group)
        if "momentum" in group and self.momentum:
            _momentum(f"param_groups[{index}]['momentum']", group["momentum"])

    def _update(self, group: dict, params: list) -> None:
        weight_decay, l, momentum = group["weight_decay"], self.l, group.get("momentum", 0.0)
        if not momentum:
            gradient_step(params, group["lr"] / l, weight_decay, group["foreach"])
            return
        small_momentum = 1.0 - (1.0 - momentum) / l if l > 1 and self._rescale_momentum else momentum
        for p in params:
            grad = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.clone(grad).detach()
            else:
                state["momentum_buffer"].mul_(small_momentum).add_(grad)
            p.add_(state["momentum_buffer"], alpha=-group["lr"] / l / l)


def _momentum(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (0: none, the paper's SVAG), got {value!r}")
    return float(value)


class AdaptiveSVAG(SVAGFamily):
    """SVAG of an adaptive method (``sdesim.torch.adaptive``): l² small steps per effective step.  Each param
    group's own β's and ε (torch's group keys: ``betas`` for Adam, ``alpha`` for the RMSprops, ``eps``) are
    rescaled for l at its small steps."""

    method = None
    takes_sparse_gradients = False

    def __init__(self, params, lr, l, weight_decay, *, clip_norm=None, **hyperparameters):
        l = strict_positive_int("l", l)
        self.hyperparameters = check_hyperparameters(self.method, **hyperparameters)
        self.small_hyperparameters = self.hyperparameters.small_step(l)
        self._small = {}                  # the group keys' values -> their small-step hyperparameters
        hyper = self.hyperparameters
        decays = {"betas": (hyper.beta1, hyper.beta2)} if hyper.beta1 is not None and self.method != "paper_rmsprop" \
            else {"alpha": hyper.beta2}
        decoupled = {"decoupled_weight_decay": True} if hyper.decoupled_weight_decay else {}
        super().__init__(params, lr, weight_decay, l=l, small_steps=l * l, clip_norm=clip_norm,
                         settings={"method": self.method, "l": l, **hyper.settings()},
                         group_defaults={**decays, "eps": hyper.eps, "foreach": None, **decoupled})

    def _check_group(self, index: int, group: dict) -> None:
        super()._check_group(index, group)
        if self.hyperparameters.decoupled_weight_decay and group.get("decoupled_weight_decay") is not True:
            raise ValueError(f"param_groups[{index}] sets decoupled_weight_decay={group['decoupled_weight_decay']!r}: "
                             f"{type(self).__name__} is AdamW's SVAG (decoupled weight decay); use AdamSVAG for "
                             f"Adam's coupled weight decay")
        if group["foreach"] is not None and not isinstance(group["foreach"], bool):
            raise ValueError(f"param_groups[{index}]['foreach'] must be True, False or None (as torch chooses), "
                             f"got {group['foreach']!r}")
        self._group_hyperparameters(group, index)

    def _group_hyperparameters(self, group: dict, index: int | None = None):
        """This group's β's and ε, checked, with SVAG's small-step rescaling for l (cached by value)."""
        key = (tuple(group["betas"]) if "betas" in group else group["alpha"], group["eps"])
        if key not in self._small:
            where = "" if index is None else f"param_groups[{index}]: "
            try:
                if "betas" in self.defaults:
                    beta1, beta2 = _pair("betas", group["betas"])
                    hyper = check_hyperparameters(self.method, beta1=decay("betas[0]", beta1),
                                                  beta2=decay("betas[1]", beta2), eps=group["eps"],
                                                  bias_correction=self.hyperparameters.bias_correction)
                else:
                    hyper = check_hyperparameters(self.method, beta2=decay("alpha", group["alpha"]), eps=group["eps"])
            except ValueError as error:
                raise ValueError(f"{where}{error}") from None
            self._small[key] = hyper.small_step(self.l)
        return self._small[key]

    def _update(self, group: dict, params: list) -> None:
        first_moment = self.hyperparameters.beta1 is not None
        states = [self.state[p] for p in params]
        for p, state in zip(params, states):
            if not state:
                state.update(step=0, exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format))
                if first_moment:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        moments = AdaptiveState([], first_moment)      # a view of these parameters' state, updated in place
        moments.exp_avg = [state["exp_avg"] for state in states] if first_moment else None
        moments.exp_avg_sq = [state["exp_avg_sq"] for state in states]
        moments.steps = [state["step"] for state in states]
        adaptive_step(params, moments, self._group_hyperparameters(group), group["lr"] / self.l, group["weight_decay"],
                      foreach=group["foreach"])
        for state, steps in zip(states, moments.steps):
            state["step"] = steps


def _pair(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (β₁, β₂), got {value!r}")
    return tuple(value)


class RMSpropSVAG(AdaptiveSVAG):
    """RMSprop's SVAG: v ← β_l v + (1 − β_l) g⊙g, x ← x − (η/l) g ⊘ (√v + εl), β_l = 1 − (1 − β)/l², l² small
    steps per effective step; l = 1 is ``torch.optim.RMSprop(lr=η, alpha=β, eps=ε, weight_decay=λ)`` bit for bit."""

    method = "rmsprop"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *, alpha: float = 0.99,
                 eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps, clip_norm=clip_norm)


class AdamSVAG(AdaptiveSVAG):
    """Adam's SVAG (Malladi et al. 2022): η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl, l² small steps per effective step;
    l = 1 is ``torch.optim.Adam(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adam"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8, bias_correction: bool = True,
                 clip_norm: float | None = None):
        beta1, beta2 = _pair("betas", betas)
        super().__init__(params, lr, l, weight_decay, beta1=decay("betas[0]", beta1), beta2=decay("betas[1]", beta2),
                         eps=eps, bias_correction=bias_correction, clip_norm=clip_norm)


class PaperRMSpropSVAG(AdaptiveSVAG):
    """The paper's RMSprop (Adam with β₁ = 0 and bias correction) and its SVAG; l = 1 is
    ``torch.optim.Adam(lr=η, betas=(0, β), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "paper_rmsprop"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *, alpha: float = 0.99,
                 eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps, clip_norm=clip_norm)


class AdamWSVAG(AdamSVAG):
    """AdamW's SVAG: AdamSVAG with decoupled weight decay x ← x(1 − (η/l)(λ/l)) before each small step (λ → λ/l
    keeps the decay per unit of SDE time, docs/theory/adaptive-sde.md); l = 1 is
    ``torch.optim.AdamW(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adamw"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.01, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, betas=betas, eps=eps, clip_norm=clip_norm)
