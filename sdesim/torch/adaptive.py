"""RMSprop and Adam written out in torch.optim's order of operations, and their SVAG (Malladi et al. 2022).

==================  ===============================================================================
``rmsprop``         v ← βv + (1−β) g⊙g;  x ← x − η g ⊘ (√v + ε)        ≡ torch.optim.RMSprop(alpha=β)
``adam``            m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂) g⊙g;  x ← x − η m̂ ⊘ (√v̂ + ε),
                    m̂ = m/(1−β₁ᵏ), v̂ = v/(1−β₂ᵏ) (without bias correction m̂ = m, v̂ = v)  ≡ torch.optim.Adam
``paper_rmsprop``   Adam with β₁ = 0 and bias correction, the paper's "RMSprop"  ≡ torch.optim.Adam(betas=(0, β))
==================  ===============================================================================

g = ∇L + λx (coupled weight decay, as torch's ``weight_decay=``), v₀ = m₀ = 0, ε outside the root, k the
number of updates so far.  SVAG with l takes l² small steps per effective step with η/l, 1 − βᵢ → (1 − βᵢ)/l²,
ε → εl, λ unchanged, on the gradient c₁∇L_γ₁ + c₂∇L_γ₂ of `sdesim.methods.svag_weights` (l²); at l = 1 one
batch and the hyperparameters themselves.  paper_rmsprop keeps β₁ = 0 at every l (it has no momentum).
Effective step k is SDE time t = kη², not kη as for SGD.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import torch

from sdesim._checks import decay
from sdesim.methods import DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPS

ADAPTIVE_METHODS = ("rmsprop", "adam", "paper_rmsprop")
SETTINGS = ("beta1", "beta2", "eps", "bias_correction")


@dataclass(frozen=True)
class AdaptiveHyperparameters:
    """β₁ (None without a first moment), β₂, ε and bias correction of one update rule."""

    method: str
    beta1: float | None
    beta2: float
    eps: float
    bias_correction: bool

    def small_step(self, l: int) -> "AdaptiveHyperparameters":
        """SVAG's small step: 1 − βᵢ → (1 − βᵢ)/l², ε → εl; l = 1 returns the hyperparameters themselves."""
        if l == 1:
            return self
        scale = lambda beta: None if beta is None else 1.0 - (1.0 - beta) / l**2  # noqa: E731
        beta1 = self.beta1 if self.method == "paper_rmsprop" else scale(self.beta1)
        return replace(self, beta1=beta1, beta2=scale(self.beta2), eps=self.eps * l)

    def settings(self) -> dict:
        """The keyword arguments of ``Trainer`` that give these hyperparameters (only those the method takes)."""
        if self.method == "adam":
            return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "bias_correction": self.bias_correction}
        return {"beta2": self.beta2, "eps": self.eps}


def check_hyperparameters(method: str, *, beta1=None, beta2=None, eps=None, bias_correction=None):
    """Validate and complete the adaptive hyperparameters of ``method``; None for a non-adaptive method,
    which takes none of them.  Defaults: β₁ = 0.9 (Adam), β₂ = 0.999 (Adam) or 0.99 (both RMSprops),
    ε = 1e-8, bias correction on (Adam)."""
    given = {name: value for name, value in zip(SETTINGS, (beta1, beta2, eps, bias_correction)) if value is not None}
    if method not in ADAPTIVE_METHODS:
        if given:
            raise ValueError(f"{', '.join(given)} applies only to the adaptive methods "
                             f"({', '.join(map(repr, ADAPTIVE_METHODS))}), not method {method!r}")
        return None
    if method != "adam":
        for name in ("beta1", "bias_correction"):
            if name in given:
                fixed = "β₁ = 0 with bias correction" if method == "paper_rmsprop" else "no first moment and no bias correction"
                raise ValueError(f"method {method!r} takes no {name} (got {name}={given[name]!r}): it has {fixed}; "
                                 f"use method='adam' for {name}")
    if bias_correction is not None and not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, got {bias_correction!r}")
    beta2 = decay("beta2", DEFAULT_BETA2[method] if beta2 is None else beta2)
    eps = DEFAULT_EPS if eps is None else eps
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0 (it is added to √v), got {eps!r}")
    if method == "rmsprop":
        return AdaptiveHyperparameters(method, None, beta2, float(eps), False)
    if method == "paper_rmsprop":
        return AdaptiveHyperparameters(method, 0.0, beta2, float(eps), True)
    beta1 = decay("beta1", DEFAULT_BETA1 if beta1 is None else beta1)
    return AdaptiveHyperparameters(method, beta1, beta2, float(eps), True if bias_correction is None else bias_correction)


class AdaptiveState:
    """The optimizer state: per parameter m (if β₁ is not None), v and the number of updates k."""

    def __init__(self, params, first_moment: bool):
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params] \
            if first_moment else None
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
        self.steps = [0] * len(params)

    def state_dict(self) -> dict:
        return {"exp_avg": None if self.exp_avg is None else [m.clone() for m in self.exp_avg],
                "exp_avg_sq": [v.clone() for v in self.exp_avg_sq], "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        if (state["exp_avg"] is None) != (self.exp_avg is None) or len(state["exp_avg_sq"]) != len(self.exp_avg_sq):
            raise ValueError("the checkpoint's optimizer state does not fit this method and model")
        for mine, saved in zip(self.exp_avg or [], state["exp_avg"] or []):
            mine.copy_(saved)
        for mine, saved in zip(self.exp_avg_sq, state["exp_avg_sq"]):
            mine.copy_(saved)
        self.steps = [int(k) for k in state["steps"]]


@torch.no_grad()
def adaptive_step(params, state: AdaptiveState, hyper: AdaptiveHyperparameters, lr: float, weight_decay: float):
    """One update of every parameter with a gradient in .grad (module docstring), as torch.optim's CPU
    single-tensor path does it, operation for operation; parameters without .grad are left alone, as there."""
    for i, param in enumerate(params):
        grad = param.grad
        if grad is None:
            continue
        state.steps[i] += 1
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        exp_avg_sq = state.exp_avg_sq[i]
        if hyper.beta1 is None:
            exp_avg_sq.mul_(hyper.beta2).addcmul_(grad, grad, value=1 - hyper.beta2)
            param.addcdiv_(grad, exp_avg_sq.sqrt().add_(hyper.eps), value=-lr)
            continue
        exp_avg = state.exp_avg[i]
        exp_avg.lerp_(grad, 1 - hyper.beta1)
        exp_avg_sq.mul_(hyper.beta2).addcmul_(grad, grad, value=1 - hyper.beta2)
        if hyper.bias_correction:
            step = float(state.steps[i])
            step_size = lr / (1 - hyper.beta1**step)
            denom = (exp_avg_sq.sqrt() / (1 - hyper.beta2**step) ** 0.5).add_(hyper.eps)
        else:
            step_size, denom = lr, exp_avg_sq.sqrt().add_(hyper.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)
