"""The scaling-rule formulas of section 5: equilibria, C-closeness, and where the rule breaks; and for
RMSprop and Adam the square-root rule and the SDE parameters it keeps (Malladi et al. 2022, end of file).

For a scale-invariant loss with weight decay λ, SGD (7) and the SDE (6) settle at equilibria
described by three test functions (Definition 5.1): the squared weight norm R, the squared
gradient norm G = |∇L|² and the noise N = Tr Σ (SGD's batch covariance; for the SDE
N̄ = Tr Σ̄ = η Tr Σ).  Every function here takes floats or numpy arrays (broadcast
elementwise) and is pure numpy.

Standard errors.  Functions of the noise-to-signal ratio N/G accept ``noise_se``,
``signal_se`` and ``noise_signal_cov`` (the covariance of the two estimates: Ĝ and N̂
from the same batches are correlated) and then return an `Estimate`
``(value, stderr)`` by the delta method,
    var f(N, G) ≈ f_N² se_N² + f_G² se_G² + 2 f_N f_G cov(N, G).
Without standard errors they return the value alone.

Bad input (non-positive λ, η, G; negative N; C <= 1; ηλ >= 2, where SGD has no
equilibrium) raises ``ValueError`` naming the argument before anything is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sdesim._checks import decay

SQRT2 = math.sqrt(2.0)


class Estimate(NamedTuple):
    """A value with its standard error (floats or arrays of one shape)."""

    value: float | np.ndarray
    stderr: float | np.ndarray


# ---------------------------------------------------------------- validation

def _array(name: str, value, *, allow_zero: bool = False):
    """``value`` as float64 (0-d or n-d), finite and > 0 (or >= 0); raise otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or an array of them, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {value!r}")
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        allowed = ">= 0" if allow_zero else "> 0"
        first = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        raise ValueError(f"{name} must be {allowed}, got {first}")
    return arr


def _closeness_constant(C) -> np.ndarray:
    C = _array("C", C)
    if np.any(C <= 1):
        raise ValueError(f"C must be > 1 (C = 1 asks for equality; the paper uses C = sqrt(2)), got {C}")
    return C


def _out(arr):
    """Return a 0-d array as a Python float/bool, anything else unchanged."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return arr.item()
    return arr


def _stderrs(noise_se, signal_se, noise_signal_cov):
    """Validate optional standard errors; None when none was given."""
    if noise_se is None and signal_se is None:
        if noise_signal_cov is not None:
            raise ValueError("noise_signal_cov needs noise_se and signal_se as well")
        return None
    if noise_se is None or signal_se is None:
        raise ValueError("give both noise_se and signal_se (use 0 for a known exact value), or neither")
    noise_se = _array("noise_se", noise_se, allow_zero=True)
    signal_se = _array("signal_se", signal_se, allow_zero=True)
    cov = np.zeros(()) if noise_signal_cov is None else np.asarray(noise_signal_cov, dtype=np.float64)
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"noise_signal_cov must be finite, got {noise_signal_cov!r}")
    return noise_se, signal_se, cov


def _delta(d_noise, d_signal, errors):
    """Delta-method standard error of f(N, G) from its partial derivatives."""
    noise_se, signal_se, cov = errors
    var = d_noise**2 * noise_se**2 + d_signal**2 * signal_se**2 + 2.0 * d_noise * d_signal * cov
    return np.sqrt(np.clip(var, 0.0, None))


# ---------------------------------------------------------------- equilibria, eq. (11) and (12)

def sgd_equilibrium_norm(lr, weight_decay, signal, noise):
    """SGD's equilibrium squared norm, eq. (11): R = η(G + N) / ((2 − ηλ)λ).

    ``signal`` = G, ``noise`` = N = Tr Σ (batch covariance).  Needs ηλ < 2.
    """
    lr, wd = _array("lr", lr), _array("weight_decay", weight_decay)
    signal = _array("signal", signal, allow_zero=True)
    noise = _array("noise", noise, allow_zero=True)
    if np.any(lr * wd >= 2):
        raise ValueError(f"lr * weight_decay must be < 2 for SGD to have an equilibrium norm, got {lr * wd}")
    return _out(lr * (signal + noise) / ((2.0 - lr * wd) * wd))


def sde_equilibrium_norm(weight_decay, noise):
    """The SDE's equilibrium squared norm, eq. (12): R̄ = N̄/(2λ), with N̄ = Tr Σ̄ = η Tr Σ."""
    wd = _array("weight_decay", weight_decay)
    noise = _array("noise", noise, allow_zero=True)
    return _out(noise / (2.0 * wd))


# ---------------------------------------------------------------- Definition 5.1 and Theorem 5.2

def closeness(sgd, sde, lr):
    """The smallest C for which SGD's and the SDE's equilibria are C-close, eq. (8).

    ``sgd`` = (R, G, N) of SGD, ``sde`` = (R̄, Ḡ, N̄) of the SDE (N̄ = Tr Σ̄).  Returns
    max over r ∈ {R/R̄, G/Ḡ, ηN/N̄} of max(r, 1/r); they are C-close iff this is <= C.
    """
    lr = _array("lr", lr)
    R, G, N = (_array(f"sgd[{i}] ({n})", v) for i, (n, v) in enumerate(zip("RGN", _triple("sgd", sgd))))
    Rb, Gb, Nb = (_array(f"sde[{i}] ({n})", v) for i, (n, v) in enumerate(zip("RGN", _triple("sde", sde))))
    ratios = np.stack(np.broadcast_arrays(R / Rb, G / Gb, lr * N / Nb))
    return _out(np.max(np.maximum(ratios, 1.0 / ratios), axis=0))


def _triple(name, values):
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a triple (R, G, N), got {values!r}") from None
    if len(values) != 3:
        raise ValueError(f"{name} must be a triple (R, G, N), got {len(values)} values")
    return values


@dataclass(frozen=True)
class ClosenessFailure:
    """Which condition of Theorem 5.2 certifies that SGD and the SDE are not C-close.

    ``fails`` = ``nsr_too_small`` or ``lr_too_large``.  ``lr_too_large`` and
    ``lr_threshold`` are None when the SDE's values were not given.
    """

    fails: bool | np.ndarray
    nsr_too_small: bool | np.ndarray       # (ii) N/G < 1/(C² − 1)
    lr_too_large: bool | np.ndarray | None  # (i) η > (N̄/Ḡ)(C² − 1)
    nsr: float | np.ndarray                # SGD's N/G
    nsr_threshold: float | np.ndarray      # 1/(C² − 1)
    lr_threshold: float | np.ndarray | None


def closeness_fails(lr, noise, signal, C=SQRT2, sde_noise=None, sde_signal=None) -> ClosenessFailure:
    """Theorem 5.2: the equilibria are not C-close if (i) η > (N̄/Ḡ)(C² − 1) or (ii) N/G < 1/(C² − 1).

    ``noise``, ``signal`` are SGD's N, G; (i) is checked only when the SDE's
    ``sde_noise`` = N̄ and ``sde_signal`` = Ḡ are given.
    """
    lr = _array("lr", lr)
    noise, signal = _array("noise", noise, allow_zero=True), _array("signal", signal)
    C = _closeness_constant(C)
    if (sde_noise is None) != (sde_signal is None):
        raise ValueError("give both sde_noise and sde_signal for condition (i), or neither")
    nsr = noise / signal
    nsr_threshold = 1.0 / (C**2 - 1.0)
    nsr_too_small = nsr < nsr_threshold
    lr_too_large = lr_threshold = None
    fails = nsr_too_small
    if sde_noise is not None:
        sde_noise = _array("sde_noise", sde_noise, allow_zero=True)
        sde_signal = _array("sde_signal", sde_signal)
        lr_threshold = sde_noise / sde_signal * (C**2 - 1.0)
        lr_too_large = lr > lr_threshold
        fails = fails | lr_too_large
        lr_too_large, lr_threshold = _out(lr_too_large), _out(lr_threshold)
    return ClosenessFailure(_out(fails), _out(nsr_too_small), lr_too_large, _out(nsr), _out(nsr_threshold),
                            lr_threshold)


# ---------------------------------------------------------------- Definition 5.4, Theorems 5.5 and 5.6

def lsi_closeness(baseline, scaled, kappa):
    """The smallest C for which (13) holds between ``baseline`` = (R, G, N) at (B, η) and
    ``scaled`` = (R', G', N') at (κB, κη): max over r ∈ {R/R', N/(κN'), G/G'} of max(r, 1/r).

    (C, κ)-LSI (Definition 5.4) holds iff this is <= C (and C < √κ).
    """
    kappa = _array("kappa", kappa)
    R, G, N = (_array(f"baseline ({n})", v) for n, v in zip("RGN", _triple("baseline", baseline)))
    Rs, Gs, Ns = (_array(f"scaled ({n})", v) for n, v in zip("RGN", _triple("scaled", scaled)))
    ratios = np.stack(np.broadcast_arrays(R / Rs, N / (kappa * Ns), G / Gs))
    return _out(np.max(np.maximum(ratios, 1.0 / ratios), axis=0))


def lsi_nsr_threshold(kappa, C=SQRT2):
    """The right side of eq. (14): (1 − 1/κ)/(C² − 1) − 1/κ = (κ − C²)/(κ(C² − 1)).

    Negative for κ <= C²: there (14) cannot fire.
    """
    kappa, C = _array("kappa", kappa), _closeness_constant(C)
    return _out((kappa - C**2) / (kappa * (C**2 - 1.0)))


def lsi_fails(noise_scaled, signal_scaled, kappa, C=SQRT2):
    """Theorem 5.5, eq. (14): SGD at (B, η) does not exhibit (C, κ)-LSI if
    N/G measured at (κB, κη) is < (1 − 1/κ)/(C² − 1) − 1/κ.

    ``noise_scaled`` is the trace of the batch-κB covariance at the scaled run's equilibrium.
    Returns a bool (or boolean array); False means "not certified", not "LSI holds".
    """
    noise = _array("noise_scaled", noise_scaled, allow_zero=True)
    signal = _array("signal_scaled", signal_scaled)
    threshold = lsi_nsr_threshold(kappa, C)
    return _out(noise / signal < threshold)


def noise_to_signal(noise, signal, *, noise_se=None, signal_se=None, noise_signal_cov=None):
    """The noise-to-signal ratio N/G (with its delta-method standard error when given)."""
    noise, signal = _array("noise", noise, allow_zero=True), _array("signal", signal)
    errors = _stderrs(noise_se, signal_se, noise_signal_cov)
    value = noise / signal
    if errors is None:
        return _out(value)
    return Estimate(_out(value), _out(_delta(1.0 / signal, -noise / signal**2, errors)))


def largest_kappa(noise, signal, C=SQRT2, *, noise_se=None, signal_se=None, noise_signal_cov=None):
    """Theorem 5.6, eq. (15): κ* = C²(1 + N/G) from a baseline's N, G at (B, η).

    For κ > κ* SGD at (B, η) does not exhibit (C, κ)-LSI: the linear scaling rule fails.
    (15) is sufficient for failure, not necessary.  Returns κ*, or an `Estimate`
    when standard errors are given.
    """
    noise, signal = _array("noise", noise, allow_zero=True), _array("signal", signal)
    C = _closeness_constant(C)
    errors = _stderrs(noise_se, signal_se, noise_signal_cov)
    value = C**2 * (1.0 + noise / signal)
    if errors is None:
        return _out(value)
    return Estimate(_out(value), _out(_delta(C**2 / signal, -C**2 * noise / signal**2, errors)))


def critical_batch_size(batch_size, noise, signal, C=SQRT2, *, noise_se=None, signal_se=None,
                        noise_signal_cov=None):
    """The critical batch size B* = κ*·B = C²B(1 + N/G) (figure 3), N and G measured at batch B."""
    batch_size = _array("batch_size", batch_size)
    kappa = largest_kappa(noise, signal, C, noise_se=noise_se, signal_se=signal_se,
                          noise_signal_cov=noise_signal_cov)
    if isinstance(kappa, Estimate):
        return Estimate(_out(batch_size * kappa.value), _out(batch_size * kappa.stderr))
    return _out(batch_size * kappa)


# ---------------------------------------------------------------- adaptive methods (Malladi et al. 2022)
#
# RMSprop and Adam approximate an SDE whose parameters are σ₀ = ση, cᵢ = (1 − βᵢ)/η² and ε₀ = εη, with time
# t = kη².  σ is the gradient-noise scale, σ ∝ 1/√B for batches of B.  Two hyperparameter sets with the same
# (σ₀, c₁, c₂, ε₀) share the SDE: the square-root rule keeps them, the linear rule does not.

class AdaptiveSDEParameters(NamedTuple):
    """(σ₀, c₁, c₂, ε₀) = (ση, (1 − β₁)/η², (1 − β₂)/η², εη); c₁ is None without a first moment (RMSprop)."""

    sigma0: float
    c1: float | None
    c2: float
    eps0: float


@dataclass(frozen=True)
class ScaledHyperparameters:
    """Hyperparameters after a scaling rule with factor κ on the batch size (``steps`` None if not given)."""

    rule: str
    kappa: float
    lr: float
    batch_size: int
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    steps: int | None = None


def _positive(name: str, value) -> float:
    return float(_array(name, value))


def _whole(name: str, value: float, what: str) -> int:
    """``value`` as an int if it is a whole number to rounding; raise with ``what`` otherwise."""
    rounded = round(value)
    if rounded < 1 or abs(value - rounded) > 1e-9 * max(1.0, abs(value)):
        raise ValueError(f"{name} = {value!r} is not a whole number >= 1: {what}")
    return int(rounded)


def _scaled_counts(batch_size, kappa, steps):
    """(κ, κB, steps/κ): the batch grows by κ and the number of epochs stays, so the steps shrink by κ."""
    kappa = _positive("kappa", kappa)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch = _whole("kappa * batch_size", kappa * batch_size,
                   f"kappa={kappa!r} must make a whole batch from batch_size={batch_size}; allowed: "
                   f"kappa = m/{batch_size} for a whole m >= 1 (e.g. 0.5, 2, 4 where the batch stays whole)")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive integer or None, got {steps!r}")
        steps = _whole("steps / kappa", steps / kappa,
                       f"the same number of epochs at batch {batch} takes steps/kappa = {steps}/{kappa!r} "
                       f"steps; choose steps divisible by kappa")
    return kappa, batch, steps


def square_root_rule(lr, batch_size, kappa, *, beta1=None, beta2, eps, steps=None) -> ScaledHyperparameters:
    """The square-root scaling rule: B → κB, η → √κ η, 1 − βᵢ → κ(1 − βᵢ), ε → ε/√κ, steps → steps/κ.

    ``beta1`` None: RMSprop (no first moment).  κ > 0 is any real for which κB is a whole number (κ < 1
    shrinks the batch), and κ ≤ 1/(1 − βᵢ) so that every βᵢ stays ≥ 0.  Keeps (σ₀, c₁, c₂, ε₀) of
    `adaptive_sde_parameters` fixed (`sde_parameters_under_rule`).
    """
    lr, eps = _positive("lr", lr), _positive("eps", eps)
    betas = {"beta1": None if beta1 is None else decay("beta1", beta1), "beta2": decay("beta2", beta2)}
    kappa, batch, steps = _scaled_counts(batch_size, kappa, steps)
    scaled = {}
    for name, beta in betas.items():
        if beta is None:
            scaled[name] = None
            continue
        new = 1.0 - kappa * (1.0 - beta)
        if new < 0:
            raise ValueError(f"kappa={kappa!r} makes {name} = 1 - kappa*(1 - {beta!r}) = {new!r} < 0; the square-root "
                             f"rule allows kappa <= 1/(1 - {name}) = {1.0 / (1.0 - beta)!r} here")
        scaled[name] = new
    return ScaledHyperparameters("square_root", kappa, lr * math.sqrt(kappa), batch, scaled["beta1"],
                                 scaled["beta2"], eps / math.sqrt(kappa), steps)


def linear_rule(lr, batch_size, kappa, steps=None) -> ScaledHyperparameters:
    """SGD's linear scaling rule: B → κB, η → κη, steps → steps/κ (κB a whole number)."""
    lr = _positive("lr", lr)
    kappa, batch, steps = _scaled_counts(batch_size, kappa, steps)
    return ScaledHyperparameters("linear", kappa, lr * kappa, batch, steps=steps)


def adaptive_sde_parameters(lr, beta1, beta2, eps, noise_scale=1.0) -> AdaptiveSDEParameters:
    """(σ₀, c₁, c₂, ε₀) = (ση, (1 − β₁)/η², (1 − β₂)/η², εη) with σ = ``noise_scale``.

    σ is the gradient-noise scale, ∝ 1/√B at batch B; ``beta1`` None (RMSprop) gives c₁ None.
    """
    lr, eps, sigma = _positive("lr", lr), _positive("eps", eps), _positive("noise_scale", noise_scale)
    c1 = None if beta1 is None else (1.0 - decay("beta1", beta1)) / lr**2
    return AdaptiveSDEParameters(sigma * lr, c1, (1.0 - decay("beta2", beta2)) / lr**2, eps * lr)


def sde_parameters_under_rule(lr, batch_size, kappa, *, beta1=None, beta2, eps, rule="square_root",
                              noise_scale=1.0) -> tuple[AdaptiveSDEParameters, AdaptiveSDEParameters]:
    """(σ₀, c₁, c₂, ε₀) before and after ``rule`` (``"square_root"`` or ``"linear"``) scales the batch by κ.

    The noise scale after is σ/√κ (σ ∝ 1/√B).  Under the square-root rule the two agree to rounding; under
    the linear rule (η → κη, β and ε unchanged) σ₀ grows by √κ and cᵢ shrinks by κ².
    """
    before = adaptive_sde_parameters(lr, beta1, beta2, eps, noise_scale)
    if rule == "square_root":
        new = square_root_rule(lr, batch_size, kappa, beta1=beta1, beta2=beta2, eps=eps)
        beta1, beta2, eps = new.beta1, new.beta2, new.eps
    elif rule == "linear":
        new = linear_rule(lr, batch_size, kappa)
    else:
        raise ValueError(f"unknown rule {rule!r}; allowed: 'square_root', 'linear'")
    return before, adaptive_sde_parameters(new.lr, beta1, beta2, eps, noise_scale / math.sqrt(new.kappa))
