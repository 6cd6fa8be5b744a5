"""The methods as data: each turns (η, l, dt, hyperparameters) into the parameters of one kernel step.

Time is the papers': for SGD-type methods effective step k is time t = kη (Li, Malladi & Arora 2021);
for the adaptive methods t = kη² (Malladi et al. 2022).  A method with small step h takes
(time per effective step)/h small steps per effective step: SVAG l of them, adaptive SVAG l².

==================  ==================  ==============================================================
name                step (kernel)       one small step
==================  ==================  ==============================================================
``sgd``             stochastic          x ← x − η ∇L_γ(x)                                       eq. (1)
``svag``            stochastic          x ← x − (η/l)(c₁∇L_γ₁ + c₂∇L_γ₂),
                                        c₁,₂ = (1 ± √(2l−1))/2                                  eq. (5)
``ngd``             gaussian            x ← x − η∇L(x) + η Σ^{1/2}(x) z                         eq. (3)
``sde``             gaussian            Euler–Maruyama on eq. (2) with step h (default η/l):
                                        x ← x − h∇L(x) + √(hη) Σ^{1/2}(x) z
``sde``             linear              (``scheme="exact"``) the exact transition, where the problem has one
``rmsprop``         adaptive            v ← βv + (1−β)g², x ← x − η g/(√v + ε)   (torch.optim.RMSprop)
``adam``            adaptive            m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
                                        x ← x − η m̂/(√v̂ + ε)                   (torch.optim.Adam)
``paper_rmsprop``   adaptive            Adam with β₁ = 0, bias correction kept (the 2022 paper's code)
``rmsprop_sde``     adaptive_sde        Euler–Maruyama on the RMSprop SDE (docs/theory/adaptive-sde.md)
``adam_sde``        adaptive_sde        Euler–Maruyama on the Adam SDE
``paper_rmsprop_sde``  adaptive_sde     the RMSprop SDE with bias correction, u/γ₂(t) in place of u
==================  ==================  ==============================================================

The adaptive methods with l > 1 are the 2022 paper's SVAG: learning rate η/l, 1 − βᵢ → (1 − βᵢ)/l²,
ε → εl, and g the SVAG combination of two independent gradients with weights (1 ± √(2l²−1))/2, so its
covariance is l²Σ; l² small steps make one effective step, time η².  The SDEs hold the paper's
σ₀ = η, cᵢ = (1 − βᵢ)/η², ε₀ = εη (noise scale σ = 1 at l = 1) and step dt (default η²/l²).

Weight decay λ adds λx to every gradient (eq. (7); coupled, as torch.optim's ``weight_decay``).
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sdesim._checks import choice, positive_float, positive_int

# the kernel step each method runs: the name of its function in sdesim/kernels/template_steps.py
STOCHASTIC, GAUSSIAN, LINEAR = "stochastic_step", "gaussian_step", "linear_step"
ADAPTIVE, ADAPTIVE_SDE = "adaptive_step", "adaptive_sde_step"
SCHEMES = ("euler", "exact")


@dataclass(frozen=True)
class Method:
    """A method as data: the step it runs, its clock, and the weak order it declares.

    ``weak_order`` is the weak order in 1/l that a sweep of l measures and a study judges by default:
    1 for SVAG (Theorem 4.3) and Euler–Maruyama with step η/l; 2 for the adaptive SVAG and for Euler
    on the adaptive SDEs, both first order in their time step η²/l² (the 2022 paper proves order 1
    in η/l, a bound; why the SVAG construction gives 2 is in docs/theory/adaptive-sde.md); ``time_scale`` is
    ``"lr"`` (t = kη) or ``"lr^2"`` (t = kη²); ``adaptive`` methods keep optimizer state per path.
    """

    name: str
    kind: str
    takes_l: bool
    weak_order: float
    time_scale: str = "lr"
    adaptive: bool = False
    momentum: bool = False          # adaptive: keeps a first moment m (Adam)
    bias_correction: bool | None = None   # adaptive: fixed True/False, or None for a user choice (Adam)
    sde: bool = False               # a discretization of an SDE (dt applies)


METHOD_TABLE = {m.name: m for m in (
    Method("sgd", STOCHASTIC, False, 1.0),
    Method("svag", STOCHASTIC, True, 1.0),
    Method("ngd", GAUSSIAN, False, 1.0),
    Method("sde", GAUSSIAN, True, 1.0, sde=True),
    Method("rmsprop", ADAPTIVE, True, 2.0, "lr^2", True, bias_correction=False),
    Method("adam", ADAPTIVE, True, 2.0, "lr^2", True, momentum=True),
    Method("paper_rmsprop", ADAPTIVE, True, 2.0, "lr^2", True, bias_correction=True),
    Method("rmsprop_sde", ADAPTIVE_SDE, True, 2.0, "lr^2", True, bias_correction=False, sde=True),
    Method("adam_sde", ADAPTIVE_SDE, True, 2.0, "lr^2", True, momentum=True, sde=True),
    Method("paper_rmsprop_sde", ADAPTIVE_SDE, True, 2.0, "lr^2", True, bias_correction=True, sde=True),
)}
METHODS = tuple(METHOD_TABLE)
ADAPTIVE_METHODS = tuple(name for name, m in METHOD_TABLE.items() if m.adaptive)
DEFAULT_BETA2 = {"rmsprop": 0.99, "paper_rmsprop": 0.99, "adam": 0.999}   # torch.optim's defaults
DEFAULT_BETA1, DEFAULT_EPS = 0.9, 1e-8

# What every kernel step reads, by name (numba passes a namedtuple by value, fields typed).
StepParams = namedtuple("StepParams", [
    "c1", "c2",                  # weights of the two gradients (SVAG); 1, 0 for one gradient
    "h",                         # the small step: learning rate η/l, or the SDE's time step dt
    "noise_scale",               # gaussian: √(hη); adaptive_sde: √dt
    "weight_decay",              # λ
    "momentum", "bias_correction",
    "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps",   # adaptive: the small step's values
    "rate1", "rate2", "sigma0", "eps0",                              # adaptive SDE: c₁, c₂, σ₀, ε₀
    "u_scale",                   # adaptive: u = v·u_scale (1/l²), the SDE's second-moment variable
    "half",                      # 0.5 as a run-time value: torch takes √b₂ as b₂**0.5, C's pow, which differs
                                 # from a correctly rounded √ in about 0.5% of cases; a literal 0.5 compiles to √
    "settled",                   # adaptive: the step count from which both bias corrections are exactly 1
    "diagonal_noise",            # gaussian: D is square and diagonal (`Problem.diagonal_noise`), D z = (D_jj z_j)
])
MAX_CORRECTIONS = 1 << 20        # rows of the bias-correction table at most (16 MB); later steps compute their own


def svag_weights(l: int) -> tuple[float, float]:
    """c₁, c₂ = (1 ± √(2l−1))/2 of eq. (5): c₁ + c₂ = 1, c₁² + c₂² = l."""
    root = math.sqrt(2 * l - 1)
    return (1.0 + root) / 2.0, (1.0 - root) / 2.0


@dataclass(frozen=True)
class AdaptiveHyper:
    """RMSprop/Adam hyperparameters as the user gave them (the l = 1 values); β₁ = 0 without momentum."""

    beta1: float
    beta2: float
    eps: float
    bias_correction: bool
    v0: float | tuple = 0.0

    def record(self, method: Method) -> dict:
        out = {"beta2": self.beta2, "eps": self.eps, "bias_correction": self.bias_correction,
               "v0": list(self.v0) if isinstance(self.v0, tuple) else self.v0}
        if method.momentum:
            out["beta1"] = self.beta1
        return out


@dataclass(frozen=True)
class StepPlan:
    """Everything the kernel needs to take one small step of a method."""

    method: str
    kind: str
    h: float                 # small step size (learning rate, or the SDE's time step)
    steps_per_unit: float    # small steps per effective step
    c1: float = 1.0
    c2: float = 0.0
    noise_scale: float = 0.0  # √(hη) for gaussian steps, √dt for adaptive SDE steps
    scheme: str | None = None
    time_per_step: float = 0.0   # time of one effective step: η, or η² for adaptive methods
    time_scale: str = "lr"
    adaptive: AdaptiveHyper | None = None
    small: tuple = ()        # adaptive: (β₁, β₂, ε) of the small step, after SVAG's scaling
    rates: tuple = ()        # adaptive SDE: (c₁, c₂, σ₀, ε₀)
    u_scale: float = 1.0
    weak_order: float = 1.0
    own_terms: bool = False  # Euler–Maruyama on an SDE in its own terms (`own_terms_plan`): x ← x + h b(x) + √h σ(x) z

    @property
    def small_dt(self) -> float:
        """Time one small step covers."""
        return self.time_per_step / self.steps_per_unit

    def small_steps(self, effective_steps) -> np.ndarray:
        """Small-step indices of effective steps k: k·(time of a step)/h, which must be a whole number ≥ 1 for k ≥ 1.

        A recorded time that is not a whole number of steps h, or one that no step fits into (h longer than
        it: zero steps would report the start values there), is refused, never rounded.
        """
        effective = np.asarray(effective_steps)
        k = effective.astype(np.float64) * self.steps_per_unit
        rounded = np.rint(k)
        bad = (np.abs(k - rounded) > 1e-9 * np.maximum(1.0, k)) | ((effective > 0) & (rounded < 1))
        if np.any(bad):
            first = effective[bad][0]
            unit = {"lr^2": "η²", "dt": "H"}.get(self.time_scale, "η")
            when = f"effective step {first} (t = {first}·{unit} = {first * self.time_per_step:g})"
            advice = (f"choose a dt that divides every recorded time (the horizon and each checkpoint; "
                      f"{unit}/dt an integer always does)")
            if first * self.steps_per_unit < 1:
                raise ValueError(f"the step dt = {self.h:g} is longer than the time of {when}: it fits zero times, "
                                 f"and zero steps would report the start values there; {advice}")
            raise ValueError(f"the time of {when} is not a whole number of steps dt = {self.h:g} "
                             f"({first * self.steps_per_unit:.6g} steps), and a recorded time is never rounded; "
                             f"{advice}")
        return rounded.astype(np.int64)

    def step_params(self, weight_decay: float, diagonal_noise: bool = False) -> StepParams:
        """The kernel's view of this plan for a problem with this weight decay and noise structure (see `StepParams`)."""
        beta1, beta2, eps = self.small or (0.0, 0.0, 0.0)
        rate1, rate2, sigma0, eps0 = self.rates or (0.0, 0.0, 0.0, 0.0)
        hyper = self.adaptive
        # an SDE in its own terms binds its drift b where ∇L sits: the step x − (−h)·b = x + h·b (a sign flip is exact)
        h = -float(self.h) if self.own_terms else float(self.h)
        return StepParams(float(self.c1), float(self.c2), h, float(self.noise_scale),
                          float(weight_decay), bool(METHOD_TABLE[self.method].momentum),
                          bool(hyper is not None and hyper.bias_correction),
                          float(beta1), 1.0 - float(beta1), float(beta2), 1.0 - float(beta2), float(eps),
                          float(rate1), float(rate2), float(sigma0), float(eps0), float(self.u_scale), 0.5,
                          float(self.settled), bool(diagonal_noise))

    def correction(self, k: int) -> tuple[float, float]:
        """(b₁, √b₂) at step k ≥ 1 as the kernel computes them: 1 − β₁ᵏ and (1 − β₂ᵏ)**0.5 for the discrete
        methods (C's pow, as torch), γ₁(t) and √γ₂(t) at t = k·dt for the SDEs."""
        if self.kind == ADAPTIVE:
            beta1, beta2, _ = self.small
            k = float(k)
            return 1.0 - beta1 ** k, (1.0 - beta2 ** k) ** 0.5
        rate1, rate2 = self.rates[:2]
        t = float(k) * self.h
        return -math.expm1(-rate1 * t), math.sqrt(-math.expm1(-rate2 * t))

    @cached_property
    def settled(self) -> int:
        """The first step count from which (b₁, √b₂) are exactly (1, 1) (no bias correction: 0)."""
        if self.adaptive is None or not self.adaptive.bias_correction:
            return 0
        beta1, beta2 = (self.small[0], self.small[1]) if self.kind == ADAPTIVE else (
            math.exp(-self.rates[0] * self.h), math.exp(-self.rates[1] * self.h))
        slowest = max(beta1, beta2)   # both corrections are 1 once slowest^k is below half an ulp of 1
        k = max(1, math.ceil(54 * math.log(2) / -math.log(slowest))) if slowest > 0 else 1
        while k > 1 and self.correction(k - 1) == (1.0, 1.0):
            k -= 1
        while self.correction(k) != (1.0, 1.0):
            k += 1
        return k

    def corrections(self, small_steps: int) -> np.ndarray:
        """(b₁, √b₂) for steps 1 … min(small_steps, settled − 1, MAX_CORRECTIONS): one row per step, computed
        once per run instead of once per path and step; the kernel computes any later unsettled step itself."""
        rows = min(int(small_steps), max(self.settled - 1, 0), MAX_CORRECTIONS)
        table = np.empty((rows, 2))
        for k in range(1, rows + 1):
            table[k - 1] = self.correction(k)
        return table


def _beta(name: str, value) -> float:
    value = positive_float(name, value, allow_zero=True) if not isinstance(value, (int, float)) else float(value)
    if not 0.0 <= value < 1.0:   # NaN too
        raise ValueError(f"{name} must lie in [0, 1) (an exponential average's decay), got {value}")
    return value


def adaptive_hyper(method: str, *, beta1=None, beta2=None, eps=None, bias_correction=None, v0=None):
    """Check RMSprop/Adam hyperparameters for ``method`` and fill in torch.optim's defaults."""
    spec = METHOD_TABLE[method]
    given = {k: v for k, v in dict(beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction,
                                   v0=v0).items() if v is not None}
    if not spec.adaptive:
        if given:
            raise ValueError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only to the adaptive "
                             f"methods ({', '.join(ADAPTIVE_METHODS)}), not to {method!r}")
        return None
    if beta1 is not None and not spec.momentum:
        raise ValueError(f"beta1 applies only to Adam; method {method!r} keeps no first moment "
                         "(paper_rmsprop is Adam with beta1 = 0)")
    if bias_correction is not None and spec.bias_correction is not None and bool(bias_correction) != spec.bias_correction:
        raise ValueError(f"method {method!r} has bias correction {'on' if spec.bias_correction else 'off'} by "
                         f"definition (got bias_correction={bias_correction!r}); for RMSprop with bias correction "
                         "use 'paper_rmsprop' (Adam with beta1 = 0, as the 2022 paper's code runs it)")
    if bias_correction is not None and not isinstance(bias_correction, (bool, np.bool_)):
        raise TypeError(f"bias_correction must be True or False, got {bias_correction!r}")
    base = method.removesuffix("_sde")
    beta1 = _beta("beta1", DEFAULT_BETA1 if beta1 is None else beta1) if spec.momentum else 0.0
    beta2 = _beta("beta2", DEFAULT_BETA2[base] if beta2 is None else beta2)
    eps = positive_float("eps (ε, added to √v)", DEFAULT_EPS if eps is None else eps)
    if v0 is None:
        v0 = 0.0
    elif np.ndim(v0) == 0:
        v0 = positive_float("v0 (the start of the second-moment average)", v0, allow_zero=True)
    else:
        values = np.asarray(v0, dtype=np.float64)
        if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"v0 must be a number >= 0 or a 1-d array of them (one per coordinate), got {v0!r}")
        v0 = tuple(float(v) for v in values)
    correction = spec.bias_correction if spec.bias_correction is not None else (
        True if bias_correction is None else bool(bias_correction))
    return AdaptiveHyper(beta1, beta2, eps, correction, v0)


def plan(method: str, lr: float, l: int = 1, *, dt: float | None = None, scheme: str = "euler",
         **hyperparameters) -> StepPlan:
    """The step of ``method`` at learning rate η = ``lr`` with SVAG parameter ``l``.

    ``hyperparameters``: ``beta1``, ``beta2``, ``eps``, ``bias_correction``, ``v0`` of the adaptive methods.
    """
    choice("method", method, METHODS)
    unknown = set(hyperparameters) - {"beta1", "beta2", "eps", "bias_correction", "v0"}
    if unknown:
        raise TypeError(f"unknown hyperparameter(s) {', '.join(sorted(unknown))}; the adaptive methods take "
                        "beta1, beta2, eps, bias_correction, v0")
    spec = METHOD_TABLE[method]
    lr = positive_float("lr (the learning rate η)", lr)
    l = positive_int("l", l)
    if not spec.takes_l and l != 1:
        raise ValueError(f"method {method!r} takes no l (got l={l}); use 'svag' for l > 1 or 'sde' for a finer step")
    if not spec.sde and dt is not None:
        raise ValueError(f"dt applies only to the SDE methods (sde, rmsprop_sde, adam_sde, paper_rmsprop_sde), "
                         f"not {method!r}")
    choice("scheme", scheme, SCHEMES)
    if method != "sde" and scheme != "euler":
        raise ValueError(f"scheme {scheme!r} applies only to method 'sde', not {method!r}, which has one step "
                         "of its own; leave scheme at 'euler'")
    hyper = adaptive_hyper(method, **hyperparameters)
    if dt is not None and l != 1:
        raise ValueError(f"l = {l} does not apply with dt: dt is the step itself (l only sets the default step, "
                         f"{'η²/l²' if spec.adaptive else 'η/l'}); give l or dt, not both")
    if method == "sgd":
        return StepPlan("sgd", STOCHASTIC, lr, 1.0, time_per_step=lr)
    if method == "svag":
        c1, c2 = svag_weights(l)
        return StepPlan("svag", STOCHASTIC, lr / l, float(l), c1, c2, time_per_step=lr)
    if method == "ngd":
        return StepPlan("ngd", GAUSSIAN, lr, 1.0, noise_scale=lr, time_per_step=lr)
    if method == "sde":
        h = lr / l if dt is None else positive_float("dt", dt)
        kind = GAUSSIAN if scheme == "euler" else LINEAR
        return StepPlan("sde", kind, h, lr / h, noise_scale=math.sqrt(h * lr), scheme=scheme, time_per_step=lr)
    unit = lr * lr
    if not spec.sde:
        # the 2022 paper's SVAG: η/l, 1 − β → (1 − β)/l², ε → εl, noise ×l (SVAG weights of l²)
        c1, c2 = svag_weights(l * l)
        beta1 = hyper.beta1 if l == 1 or not spec.momentum else 1.0 - (1.0 - hyper.beta1) / (l * l)   # β₁ = 0 stays
        beta2 = hyper.beta2 if l == 1 else 1.0 - (1.0 - hyper.beta2) / (l * l)
        return StepPlan(method, ADAPTIVE, lr / l, float(l * l), c1, c2, time_per_step=unit, time_scale="lr^2",
                        adaptive=hyper, small=(beta1, beta2, hyper.eps * l), u_scale=1.0 / (l * l))
    h = unit / (l * l) if dt is None else positive_float("dt", dt)
    rates = ((1.0 - hyper.beta1) / unit, (1.0 - hyper.beta2) / unit, lr, hyper.eps * lr)
    return StepPlan(method, ADAPTIVE_SDE, h, unit / h, noise_scale=math.sqrt(h), scheme="euler",
                    time_per_step=unit, time_scale="lr^2", adaptive=hyper, rates=rates)


def _refused_for_own_terms(method: str) -> str:
    """Why ``method`` cannot run on an SDE given by its drift and diffusion."""
    spec = METHOD_TABLE[method]
    if spec.adaptive:
        return ("it is RMSprop/Adam (or their SDE), which precondition a gradient by its running second moment; "
                "an SDE in its own terms has no gradient and no learning rate")
    if spec.kind == STOCHASTIC:
        return "it samples stochastic gradients ∇L_γ, which an SDE given by its drift and diffusion does not have"
    return "it is SGD with Gaussian noise of covariance ηΣ(x): it needs a learning rate η, which an SDE in its own terms does not have"


def own_terms_plan(method: str, unit: float, l: int = 1, *, dt: float | None = None, scheme: str = "euler",
                   **hyperparameters) -> StepPlan:
    """Euler–Maruyama on an SDE in its own terms, dX = b(X) dt + σ(X) dW (`sdesim.problems.sde`):

        x ← x + h b(x) + √h σ(x) z,   h = dt (default unit/l),

    an effective step being time ``unit`` (the study's H), l small steps of H/l each; weak order 1 in h.
    Only method ``sde`` with scheme ``euler`` and no hyperparameters: the others are SGD's.
    """
    choice("method", method, METHODS)
    if method != "sde":
        raise ValueError(f"method {method!r} does not apply to an SDE in its own terms: {_refused_for_own_terms(method)}; "
                         "use method 'sde' (Euler–Maruyama with step dt)")
    if scheme != "euler":
        raise ValueError(f"scheme {scheme!r} needs a closed-form transition, which an SDE in its own terms does not "
                         "declare; use scheme 'euler'")
    if hyperparameters:
        raise ValueError(f"{', '.join(sorted(hyperparameters))} belong to the adaptive methods (RMSprop, Adam), "
                         "not to an SDE in its own terms")
    unit = positive_float("dt (the time of one step)", unit)
    l = positive_int("l", l)
    if dt is not None and l != 1:
        raise ValueError(f"l = {l} does not apply with dt: dt is the Euler step itself (l only sets the default "
                         "step, unit/l); give l or dt, not both")
    h = unit / l if dt is None else positive_float("dt", dt)
    return StepPlan("sde", GAUSSIAN, h, unit / h, noise_scale=math.sqrt(h), scheme="euler", time_per_step=unit,
                    time_scale="dt", own_terms=True)
