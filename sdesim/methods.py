"""The methods as data: each turns (η, l, dt) into the parameters of one kernel step.

Time is the paper's: effective step k is time t = kη.  A method with small step h
takes η/h small steps per effective step (SVAG: l of them).

==========  ==========  ==========================================================
name        kind        one small step
==========  ==========  ==========================================================
``sgd``     stochastic  x ← x − η ∇L_γ(x)                                 eq. (1)
``svag``    stochastic  x ← x − (η/l)(c₁∇L_γ₁ + c₂∇L_γ₂),
                        c₁,₂ = (1 ± √(2l−1))/2                            eq. (5)
``ngd``     gaussian    x ← x − η∇L(x) + η Σ^{1/2}(x) z                   eq. (3)
``sde``     gaussian    Euler–Maruyama on eq. (2) with step h (default η/l):
                        x ← x − h∇L(x) + √(hη) Σ^{1/2}(x) z
``sde``     linear      (``scheme="exact"``) the exact transition, where the problem has one
==========  ==========  ==========================================================

Weight decay λ adds λx to every gradient (eq. (7)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdesim._checks import choice, positive_float, positive_int

STOCHASTIC, GAUSSIAN, LINEAR = 0, 1, 2
METHODS = ("sgd", "svag", "ngd", "sde")
SCHEMES = ("euler", "exact")


def svag_weights(l: int) -> tuple[float, float]:
    """c₁, c₂ = (1 ± √(2l−1))/2 of eq. (5): c₁ + c₂ = 1, c₁² + c₂² = l."""
    root = math.sqrt(2 * l - 1)
    return (1.0 + root) / 2.0, (1.0 - root) / 2.0


@dataclass(frozen=True)
class StepPlan:
    """Everything the kernel needs to take one small step of a method."""

    method: str
    kind: int
    h: float                 # small step size
    steps_per_unit: float    # small steps per effective step, η/h
    c1: float = 1.0
    c2: float = 0.0
    noise_scale: float = 0.0  # √(hη) for gaussian steps
    scheme: str | None = None

    def small_steps(self, effective_steps) -> np.ndarray:
        """Small-step indices of effective steps k (errors if k·η/h is not a whole number)."""
        k = np.asarray(effective_steps, dtype=np.float64) * self.steps_per_unit
        rounded = np.rint(k)
        if np.any(np.abs(k - rounded) > 1e-9 * np.maximum(1.0, k)):
            bad = np.asarray(effective_steps)[np.abs(k - rounded) > 1e-9 * np.maximum(1.0, k)][0]
            raise ValueError(f"checkpoint at effective step {bad} (time {bad}·η) is not a whole number "
                             f"of steps of size {self.h:g}; choose dt so that η/dt is an integer")
        return rounded.astype(np.int64)


def plan(method: str, lr: float, l: int = 1, *, dt: float | None = None, scheme: str = "euler") -> StepPlan:
    """The step of ``method`` at learning rate η = ``lr`` with SVAG parameter ``l``."""
    choice("method", method, METHODS)
    lr = positive_float("lr (the learning rate η)", lr)
    l = positive_int("l", l)
    if method in ("sgd", "ngd") and l != 1:
        raise ValueError(f"method {method!r} takes no l (got l={l}); use 'svag' for l > 1 or 'sde' for a finer step")
    if method != "sde" and dt is not None:
        raise ValueError(f"dt applies only to method 'sde', not {method!r}")
    choice("scheme", scheme, SCHEMES)
    if method != "sde" and scheme != "euler":
        raise ValueError(f"scheme {scheme!r} applies only to method 'sde', not {method!r}, which has one step "
                         "of its own; leave scheme at 'euler'")
    if method == "sgd":
        return StepPlan("sgd", STOCHASTIC, lr, 1.0)
    if method == "svag":
        c1, c2 = svag_weights(l)
        return StepPlan("svag", STOCHASTIC, lr / l, float(l), c1, c2)
    if method == "ngd":
        return StepPlan("ngd", GAUSSIAN, lr, 1.0, noise_scale=lr)
    h = lr / l if dt is None else positive_float("dt", dt)
    kind = GAUSSIAN if scheme == "euler" else LINEAR
    return StepPlan("sde", kind, h, lr / h, noise_scale=math.sqrt(h * lr), scheme=scheme)
