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
DECOUPLED_METHODS = ("adamw",)            # Adam's update with decoupled weight decay (optimizers only)
FIRST_MOMENT_METHODS = ("adam", "adamw")  # those that take beta1 and bias_correction
SETTINGS = ("beta1", "beta2", "eps", "bias_correction")


@dataclass(frozen=True)
class AdaptiveHyperparameters:
    """β₁ (None without a first moment), β₂, ε and bias correction of one update rule; ``l`` > 1 for the
    small step of SVAG with l (`small_step`), which divides a decoupled weight decay by l."""

    method: str
    beta1: float | None
    beta2: float
    eps: float
    bias_correction: bool
    l: int = 1

    @property
    def decoupled_weight_decay(self) -> bool:
        """True for AdamW: x ← x(1 − η·λ/l) before the update, λ not in the gradient."""
        return self.method in DECOUPLED_METHODS

    def step_weight_decay(self, weight_decay: float) -> float:
        """The λ a step applies: λ/l if decoupled (λ/1 = λ exactly at l = 1), λ itself if coupled."""
        return weight_decay / self.l if self.decoupled_weight_decay else weight_decay

    def small_step(self, l: int) -> "AdaptiveHyperparameters":
        """SVAG's small step: 1 − βᵢ → (1 − βᵢ)/l², ε → εl, decoupled λ → λ/l (the step η/l makes the factor
        1 − ηλ/l², l² of them 1 − ηλ + O((ηλ)²)); l = 1 returns the hyperparameters themselves."""
        if l == 1:
            return self
        scale = lambda beta: None if beta is None else 1.0 - (1.0 - beta) / l**2  # noqa: E731
        beta1 = self.beta1 if self.method == "paper_rmsprop" else scale(self.beta1)
        return replace(self, beta1=beta1, beta2=scale(self.beta2), eps=self.eps * l, l=l)

    def settings(self) -> dict:
        """The keyword arguments of ``Trainer`` that give these hyperparameters (only those the method takes)."""
        if self.method in FIRST_MOMENT_METHODS:
            return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "bias_correction": self.bias_correction}
        return {"beta2": self.beta2, "eps": self.eps}


def check_hyperparameters(method: str, *, beta1=None, beta2=None, eps=None, bias_correction=None):
    """Validate and complete the adaptive hyperparameters of ``method``; None for a non-adaptive method,
    which takes none of them.  Defaults: β₁ = 0.9 (Adam), β₂ = 0.999 (Adam) or 0.99 (both RMSprops),
    ε = 1e-8, bias correction on (Adam)."""
    given = {name: value for name, value in zip(SETTINGS, (beta1, beta2, eps, bias_correction)) if value is not None}
    if method not in ADAPTIVE_METHODS + DECOUPLED_METHODS:
        if given:
            raise ValueError(f"{', '.join(given)} applies only to the adaptive methods "
                             f"({', '.join(map(repr, ADAPTIVE_METHODS))}), not method {method!r}")
        return None
    if method not in FIRST_MOMENT_METHODS:
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
        """Copies of the moment estimates m (``exp_avg``; None for RMSprop), v (``exp_avg_sq``) and the step counts."""
        return {"exp_avg": None if self.exp_avg is None else [m.clone() for m in self.exp_avg],
                "exp_avg_sq": [v.clone() for v in self.exp_avg_sq], "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        """Restore m, v and the step counts from `state_dict`; a ValueError if they belong to another method or model."""
        if (state["exp_avg"] is None) != (self.exp_avg is None) or len(state["exp_avg_sq"]) != len(self.exp_avg_sq):
            raise ValueError("the checkpoint's optimizer state does not fit this method and model")
        for mine, saved in zip(self.exp_avg or [], state["exp_avg"] or []):
            mine.copy_(saved)
        for mine, saved in zip(self.exp_avg_sq, state["exp_avg_sq"]):
            mine.copy_(saved)
        self.steps = [int(k) for k in state["steps"]]


def default_foreach(params) -> bool:
    """torch.optim's default path for these methods: foreach when every parameter is a floating-point tensor on
    a CUDA device, the single-tensor loop otherwise (on the CPU both give the same bits)."""
    return bool(params) and all(p.device.type == "cuda" and torch.is_floating_point(p) for p in params)


@torch.no_grad()
def adaptive_step(params, state: AdaptiveState, hyper: AdaptiveHyperparameters, lr: float, weight_decay: float,
                  *, foreach: bool | None = None):
    """One update of every parameter with a gradient in .grad (module docstring), as torch.optim does it,
    operation for operation: its single-tensor path (``foreach=False``) or its foreach path (``True``; None:
    torch's default, `default_foreach`).  Parameters without .grad are left alone, as there."""
    active = [i for i, param in enumerate(params) if param.grad is not None]
    for i in active:
        state.steps[i] += 1
    if foreach is None:
        foreach = default_foreach([params[i] for i in active])
    if foreach:
        _foreach_update(active, params, state, hyper, lr, weight_decay)
        return
    decay = hyper.step_weight_decay(weight_decay)
    for i in active:
        param = params[i]
        grad = param.grad
        if decay != 0:
            if hyper.decoupled_weight_decay:
                param.mul_(1 - lr * decay)
            else:
                grad = grad.add(param, alpha=decay)
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


def _foreach_update(active, params, state: AdaptiveState, hyper: AdaptiveHyperparameters, lr: float,
                    weight_decay: float) -> None:
    """`adaptive_step`'s update with torch._foreach ops, in the order of torch.optim's multi-tensor Adam and
    RMSprop (their non-capturable branch)."""
    if not active:
        return
    params = [params[i] for i in active]
    grads = [p.grad for p in params]
    exp_avg_sqs = [state.exp_avg_sq[i] for i in active]
    decay = hyper.step_weight_decay(weight_decay)
    if decay != 0:
        if hyper.decoupled_weight_decay:
            torch._foreach_mul_(params, 1 - lr * decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=decay)
    if hyper.beta1 is None:
        torch._foreach_mul_(exp_avg_sqs, hyper.beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - hyper.beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(denom, hyper.eps)
        torch._foreach_addcdiv_(params, grads, denom, value=-lr)
        return
    exp_avgs = [state.exp_avg[i] for i in active]
    torch._foreach_lerp_(exp_avgs, grads, 1 - hyper.beta1)
    torch._foreach_mul_(exp_avg_sqs, hyper.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - hyper.beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    if hyper.bias_correction:
        steps = [float(state.steps[i]) for i in active]
        torch._foreach_div_(denom, [(1 - hyper.beta2**step) ** 0.5 for step in steps])
        step_sizes = [(lr / (1 - hyper.beta1**step)) * -1 for step in steps]
    else:
        step_sizes = [-lr] * len(params)
    torch._foreach_add_(denom, hyper.eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, step_sizes)
