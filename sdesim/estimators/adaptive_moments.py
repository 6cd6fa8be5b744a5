"""One-step moments of the adaptive SVAG (RMSprop, Adam) against one Euler step of their SDEs.

The adaptive analogue of Lemmas 4.6/4.7 (docs/theory/one-step-moments.md, section "Adaptive methods";
the methods and their SDEs in docs/theory/adaptive-sde.md).  From a state (x, m, u) at time t, with
u = v/l² (the engine's observable), one small step of the 2022 paper's SVAG at level l (learning
rate η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl, g = c₁∇L_γ₁ + c₂∇L_γ₂ + λx with c₁,₂ = (1 ± √(2l² − 1))/2)
changes the state by, with dt = η²/l², cᵢ = (1 − βᵢ)/η², σ₀ = η, ε₀ = εη,

    Δm = c₁dt (g − m),   Δu = c₂dt (g⊙g/l² − u),
    Δx = −dt ((m + Δm)/b₁) ⊘ (σ₀√((u + Δu)/b₂) + ε₀),   bᵢ = 1 − (1 − cᵢdt)^{k+1}  (1 without bias correction)

(RMSprop: m + Δm replaced by g, no m in the state), and one Euler step of dt of the SDE by

    Δũ = c₂dt (diag Σ − u),   Δm̃ = c₁dt (G − m) + c₁σ₀√dt D z,   G = ∇L(x) + λx,
    Δx̃ = −dt ((m + Δm̃)/γ₁) ⊘ (σ₀√((u + Δũ)/γ₂) + ε₀)   (RMSprop: −(dt G + σ₀√dt D z) ⊘ (…)),
    γᵢ = 1 − e^{−cᵢ(t + dt)}.

Δũ is deterministic, Δm̃ Gaussian and Δx̃ linear in it (RMSprop: Gaussian), so the SDE step's
moments are closed-form (`sde_step_moments`).  The SVAG step's moments are finite sums when the
gradient noise takes finitely many values (`svag_step_moments`: the quadratic problem with
Rademacher noise, each column's SVAG combination c₁ε̄₁ + c₂ε̄₂ taking (B + 1)² values, the columns
independent).  `adaptive_svag_increments` samples the SVAG step from the problem's own draws, one
stream per sample, and `adaptive_moment_checks` holds samples against the exact sums (z-scores, with
`TOLERANCE` and `MIN_PATHS` of `sdesim.estimators.moment_checks`) and measures how the per-unit-time
gap |E Δ_svag − E Δ_sde|/dt of each moment falls with l.

Δm is linear in g, so its moments agree with the SDE's exactly in orders 1 and 2, and in order 3
up to (c₁dt)³(c₁³ + c₂³)E ξ^{⊗3}, zero for symmetric noise.  Δu and Δx differ: g⊙g/l² fluctuates
about diag Σ + G⊙G/l², and u + Δu enters Δx's denominator.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from sdesim import rng
from sdesim._checks import positive_float, positive_int
from sdesim.estimators.moment_checks import (MIN_PATHS, MomentCheck, _svag_increments, _z, check_sample_memory,
                                             outer3, raw_moments, sym3)
from sdesim.methods import METHOD_TABLE, plan
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable

ADAPTIVE_SVAG = ("rmsprop", "adam", "paper_rmsprop")
MAX_ATOMS = 2_000_000     # the exact sums enumerate the joint law of the noise: at most this many values
GAP_L = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class AdaptiveState:
    """Where one step starts: x, u = v/l² (and m, for Adam) at time t (t/dt small steps taken)."""

    x: np.ndarray
    u: np.ndarray
    m: np.ndarray | None = None
    t: float = 0.0

    @classmethod
    def make(cls, problem: Problem, method: str, x=None, u=None, m=None, t=0.0) -> "AdaptiveState":
        """Check and fill in a state: u defaults to diag Σ(x), m to 0 (Adam)."""
        x = problem.start_point(x)
        d = problem.dim
        u = np.diag(problem.sigma(x)).copy() if u is None else np.broadcast_to(np.asarray(u, float), (d,)).copy()
        if np.any(u < 0) or not np.all(np.isfinite(u)):
            raise ValueError(f"u (= v/l², the second-moment average) must be finite and >= 0, got {u.tolist()}")
        if METHOD_TABLE[method].momentum:
            m = np.zeros(d) if m is None else np.broadcast_to(np.asarray(m, float), (d,)).copy()
        elif m is not None:
            raise ValueError(f"method {method!r} keeps no first moment m; leave m out")
        return cls(x, u, m, positive_float("t (the time the step starts at)", t, allow_zero=True))

    @property
    def components(self) -> tuple:
        return ("x", "m", "u") if self.m is not None else ("x", "u")


@dataclass(frozen=True)
class _Step:
    """The small step's scalars (from `sdesim.methods.plan`, so the engine's scaling) and the SDE's rates."""

    momentum: bool
    h: float
    beta1: float
    beta2: float
    eps: float
    b1: float
    root_b2: float
    u_scale: float
    c1: float
    c2: float
    dt: float
    gamma1: float
    root_gamma2: float
    rate1: float
    rate2: float
    sigma0: float
    eps0: float


def _step(method: str, lr: float, l: int, t: float, hyper: dict) -> _Step:
    svag, sde = plan(method, lr, l, **hyper), plan(method + "_sde", lr, l, **hyper)
    beta1, beta2, eps = svag.small     # β₁ = 0 at every l without momentum (sdesim.methods.plan)
    k = round(t / sde.h) + 1   # the step being taken
    if abs(t / sde.h + 1 - k) > 1e-9 * k:
        raise ValueError(f"t = {t:g} is not a whole number of steps dt = η²/l² = {sde.h:g} at l = {l}")
    correction = svag.adaptive.bias_correction
    b1, root_b2 = svag.correction(k) if correction else (1.0, 1.0)   # the kernel's own values
    gamma1, root_gamma2 = sde.correction(k) if correction else (1.0, 1.0)
    rate1, rate2, sigma0, eps0 = sde.rates
    return _Step(METHOD_TABLE[method].momentum, svag.h, beta1, beta2, eps, b1, root_b2, svag.u_scale, svag.c1,
                 svag.c2, sde.h, gamma1, root_gamma2, rate1, rate2, sigma0, eps0)


def _svag_delta(s: _Step, state: AdaptiveState, g: np.ndarray) -> dict:
    """Increments of one SVAG step for each row of gradients g (λx included), as the kernel computes them."""
    du = (1.0 - s.beta2) * (g * g * s.u_scale - state.u)
    new_v = (state.u + du) / s.u_scale
    if s.momentum:
        dm = (1.0 - s.beta1) * (g - state.m)
        new_m = state.m + dm
    else:
        new_m = g
    dx = -(s.h / s.b1) * new_m / (np.sqrt(new_v) / s.root_b2 + s.eps)
    return {"x": dx, "m": dm, "u": du} if s.momentum else {"x": dx, "u": du}


def _gradients(problem: Problem, x, c1: float, c2: float, paths: int, key) -> np.ndarray:
    """Row i = c₁∇L_γ₁(x) + c₂∇L_γ₂(x) + λx, sample i drawing both gradients from stream i of ``key``
    (SGD's SVAG increment with h = −1: the same draws, negated exactly)."""
    out = np.empty((paths, problem.dim))
    _svag_increments(problem.functions.sample_grad, problem.functions.init_state, x, problem.data, key,
                     c1, c2, -1.0, problem.weight_decay, problem.state_size, out)
    return out


def adaptive_svag_increments(problem: Problem, method: str, state: AdaptiveState, lr: float, l: int, paths: int,
                             seed: int = 0, **hyper) -> dict:
    """``paths`` samples of one small SVAG step's increments {"x", "m", "u"} (each paths × d) from ``state``.

    Sample i draws its two gradients from stream i of ``seed``, as path i of the engine does: from m = 0,
    u = v₀ and t = 0, Δx is the engine's first step of path i (to rounding).
    """
    s = _step(method, lr, l, state.t, hyper)
    return _svag_delta(s, state, _gradients(problem, state.x, s.c1, s.c2, paths, rng.stream_key(seed)))


def _noise_atoms(problem: Problem, c1: float, c2: float):
    """The finitely many values N of the SVAG noise c₁ξ₁ + c₂ξ₂ (ξ = F ε̄) and their probabilities."""
    if problem.name != "quadratic" or problem.params["noise"] != "rademacher":
        raise ValueError("exact one-step moments need gradient noise with finitely many values: the quadratic "
                         f"problem with noise='rademacher' (got problem {problem.name!r}"
                         f"{', noise ' + repr(problem.params['noise']) if problem.name == 'quadratic' else ''})")
    f, batch = problem.data[2], problem.data[5]
    means = (2.0 * np.arange(batch + 1) - batch) / batch   # ε̄ of B Rademacher draws, binomial weights
    weights = np.array([math.comb(batch, j) for j in range(batch + 1)]) / 2.0**batch
    column = (c1 * means[:, None] + c2 * means[None, :]).ravel() if c2 != 0.0 else means
    column_p = np.outer(weights, weights).ravel() if c2 != 0.0 else weights
    n_atoms = len(column) ** f.shape[1]
    if n_atoms > MAX_ATOMS:
        raise ValueError(f"the noise takes {n_atoms} values ({len(column)} per column of F, {f.shape[1]} columns); "
                         f"at most {MAX_ATOMS} are enumerated: use fewer dimensions or a smaller batch")
    grid = np.array(list(itertools.product(range(len(column)), repeat=f.shape[1])))
    return column[grid] @ f.T, np.prod(column_p[grid], axis=1)


def _moments_of(values: np.ndarray, p: np.ndarray) -> list:
    """[E Δ, E Δ⊗Δ, E Δ^{⊗3}] of a law with atoms ``values`` (n × d) and probabilities p."""
    return [p @ values, np.einsum("n,ni,nj->ij", p, values, values),
            np.einsum("n,ni,nj,nk->ijk", p, values, values, values)]


def svag_step_moments(problem: Problem, method: str, state: AdaptiveState, lr: float, l: int, *, weights=None,
                      **hyper) -> dict:
    """Exact {component: [E Δ, E Δ⊗Δ, E Δ^{⊗3}]} of one SVAG step, a finite sum over the noise's values.

    ``weights``: (c₁, c₂) in place of SVAG's (1 ± √(2l² − 1))/2, to show what wrong weights do.
    """
    s = _step(method, lr, l, state.t, hyper)
    c1, c2 = (s.c1, s.c2) if weights is None else weights
    noise, p = _noise_atoms(problem, c1, c2)
    g = problem.mean_grad(state.x) + problem.weight_decay * state.x
    deltas = _svag_delta(s, state, (c1 + c2) * g + noise)
    return {name: _moments_of(delta, p) for name, delta in deltas.items()}


def _gaussian_moments(mu: np.ndarray, cov: np.ndarray) -> list:
    return [mu, cov + np.outer(mu, mu), outer3(mu, mu, mu) + 3 * sym3(np.einsum("i,jk->ijk", mu, cov))]


def sde_step_moments(problem: Problem, method: str, state: AdaptiveState, lr: float, l: int, **hyper) -> dict:
    """Exact {component: [E Δ̃, E Δ̃⊗Δ̃, E Δ̃^{⊗3}]} of one Euler step dt = η²/l² of the method's SDE."""
    s = _step(method, lr, l, state.t, hyper)
    x, dt = state.x, s.dt
    g, sigma = problem.mean_grad(x) + problem.weight_decay * x, problem.sigma(x)
    du = s.rate2 * (np.diag(sigma) - state.u) * dt
    inv_p = 1.0 / (s.sigma0 * np.sqrt(state.u + du) / s.root_gamma2 + s.eps0)
    noise_cov = s.sigma0**2 * dt * sigma     # of σ₀√dt D z
    out = {"u": _gaussian_moments(du, np.zeros_like(sigma))}
    if s.momentum:
        mu_m = s.rate1 * (g - state.m) * dt
        cov_m = s.rate1**2 * noise_cov
        scale = -(dt / s.gamma1) * inv_p      # Δx̃ = scale ⊙ (m + Δm̃)
        out["m"] = _gaussian_moments(mu_m, cov_m)
        out["x"] = _gaussian_moments(scale * (state.m + mu_m), np.outer(scale, scale) * cov_m)
    else:
        out["x"] = _gaussian_moments(-dt * inv_p * g, np.outer(inv_p, inv_p) * noise_cov)
    return {name: out[name] for name in state.components}


def moment_gaps(problem: Problem, method: str, state: AdaptiveState, lr: float, l_values=GAP_L, *, weights=None,
                **hyper) -> list:
    """Per unit time, max |E Δ_svag^{⊗k} − E Δ_sde^{⊗k}|/dt for each component and order k, at each l (exact)."""
    rows = []
    for l in l_values:
        w = None if weights is None else weights(l)
        svag = svag_step_moments(problem, method, state, lr, l, weights=w, **hyper)
        sde = sde_step_moments(problem, method, state, lr, l, **hyper)
        dt = lr**2 / l**2
        for name in state.components:
            for k in range(3):
                rows.append({"l": l, "component": name, "order": k + 1,
                             "gap": float(np.max(np.abs(svag[name][k] - sde[name][k]))) / dt,
                             "size": float(np.max(np.abs(sde[name][k]))) / dt})
    return rows


def gap_exponents(gaps: list, floor: float = 1e-12, tail: int = 3) -> list:
    """The slope of log(gap) against log l for each (component, order), least squares over the last ``tail``
    l given (the asymptotic order; the first levels can fall faster), and the local slopes between neighbours.

    A gap at rounding level (below ``floor`` times the component's largest moment per unit time at every l)
    is exactly zero in exact arithmetic: its exponent is None and ``zero`` True.
    """
    out = []
    for name, order in dict.fromkeys((r["component"], r["order"]) for r in gaps):
        rows = [r for r in gaps if (r["component"], r["order"]) == (name, order)]
        scale = max(r["size"] for r in gaps if r["component"] == name and r["l"] == rows[0]["l"])
        zero = all(r["gap"] <= floor * scale for r in rows)
        slope, local = None, []
        if not zero:
            ls, gs = np.log([r["l"] for r in rows]), np.log([max(r["gap"], 1e-300) for r in rows])
            slope = float(np.polyfit(ls[-tail:], gs[-tail:], 1)[0])
            local = (np.diff(gs) / np.diff(ls)).tolist()
        out.append({"component": name, "order": order, "exponent": slope, "local": local, "zero": zero,
                    "gap_first": rows[0]["gap"], "gap_last": rows[-1]["gap"]})
    return out


@dataclass
class AdaptiveMomentCheck(MomentCheck):
    """Rows (method, l, order, component, estimate, exact, z), and the per-unit-time gaps against the SDE in l."""

    method: str = "adam"
    state: dict = field(default_factory=dict)
    gaps: list = field(default_factory=list)
    exponents: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**super().to_dict(), **to_jsonable({"method": self.method, "state": self.state,
                                                    "gaps": self.gaps, "exponents": self.exponents})}

    def table(self) -> str:
        lines = [f"one-step moments of {self.method} (SVAG) and its SDE's Euler step at x = "
                 f"{np.round(self.x, 4).tolist()}, lr={self.lr:g}, {self.paths} samples per row "
                 "(z = (estimate − exact)/stderr, largest |z| over entries)"]
        if not self.calibrated:
            lines.append(f"warning: fewer than {MIN_PATHS} samples: |z| is heavy-tailed here, a large one is not "
                         "evidence (see sdesim.estimators.moment_checks)")
        lines.append(f"{'method':>16} {'l':>4} {'order':>5} {'comp':>4} {'max|exact|':>12} {'max|z|':>8}")
        for r in self.rows:
            lines.append(f"{r['method']:>16} {r['l']:>4} {r['order']:>5} {r['component']:>4} "
                         f"{np.max(np.abs(r['exact'])):>12.4g} {r['max_abs_z']:>8.2f}")
        lines.append(self.verdict())
        lines.append("")
        lines.append("gap per unit time, max |E Δ_svag^⊗k − E Δ_sde^⊗k|/dt (exact), against l; exponent: fitted slope")
        ls = list(dict.fromkeys(r["l"] for r in self.gaps))
        lines.append(f"{'comp':>4} {'order':>5} " + " ".join(f"{'l=' + str(l):>10}" for l in ls) + f" {'exponent':>9}")
        for e in self.exponents:
            values = [r["gap"] for r in self.gaps if (r["component"], r["order"]) == (e["component"], e["order"])]
            slope = "exact" if e["zero"] else f"{e['exponent']:.2f}"
            lines.append(f"{e['component']:>4} {e['order']:>5} " + " ".join(f"{v:>10.3g}" for v in values)
                         + f" {slope:>9}")
        return "\n".join(lines)


def _rows(method: str, l: int, estimates: dict, exact: dict) -> list:
    """One row per sampled component and order; a standard error below rounding (a component that takes
    one value, or whose entries cancel) counts as rounding, 1e-12 of the moment's largest entry."""
    rows = []
    for name, samples in estimates.items():
        means, stderrs = raw_moments(samples)
        for k in range(3):
            stderr = np.maximum(stderrs[k], 1e-12 * np.max(np.abs(exact[name][k])))
            z = _z(means[k], exact[name][k], stderr)
            rows.append({"method": method, "l": l, "order": k + 1, "component": name, "estimate": means[k],
                         "exact": exact[name][k], "stderr": stderrs[k], "z": z, "max_abs_z": float(np.max(np.abs(z)))})
    return rows


def _sde_samples(problem: Problem, method: str, state: AdaptiveState, lr: float, l: int, paths: int, gen,
                 hyper: dict) -> dict:
    """``paths`` Euler steps of the SDE from ``state`` (NumPy normals): Δx̃ and Δm̃ (Δũ is not random)."""
    s = _step(method, lr, l, state.t, hyper)
    x, dt = state.x, s.dt
    g = problem.mean_grad(x) + problem.weight_decay * x
    d_mat = problem.noise_sqrt(x)
    w = math.sqrt(dt) * gen.standard_normal((paths, d_mat.shape[1])) @ d_mat.T
    du = s.rate2 * (np.diag(problem.sigma(x)) - state.u) * dt
    denominator = s.sigma0 * np.sqrt(state.u + du) / s.root_gamma2 + s.eps0
    if not s.momentum:
        return {"x": -(dt * g + s.sigma0 * w) / denominator}
    dm = s.rate1 * ((g - state.m) * dt + s.sigma0 * w)
    return {"x": -dt * ((state.m + dm) / s.gamma1) / denominator, "m": dm}


def adaptive_moment_checks(problem: Problem, method: str = "adam", *, x=None, u=None, m=None, t: float = 0.0,
                           lr: float = 0.1, l_values=(1, 2, 4), paths: int = 200_000, seed: int = 0,
                           gap_l=GAP_L, **hyper) -> AdaptiveMomentCheck:
    """Sampled one-step moments of the adaptive SVAG (and the SDE's Euler step) against their exact values,
    and the per-unit-time gaps between the two, exactly, for l in ``gap_l``."""
    if method not in ADAPTIVE_SVAG:
        raise ValueError(f"method must be one of {', '.join(ADAPTIVE_SVAG)} (its SDE is checked alongside), "
                         f"got {method!r}")
    lr = positive_float("lr (the learning rate η)", lr)
    paths = positive_int("paths", paths)
    if paths < 2:
        raise ValueError("paths must be at least 2 to estimate standard errors")
    state = AdaptiveState.make(problem, method, x, u, m, t)
    check_sample_memory(paths, problem.dim)
    check = AdaptiveMomentCheck(problem={"name": problem.name, "params": to_jsonable(problem.params)}, x=state.x,
                                lr=lr, paths=paths, seed=seed, method=method,
                                state={"x": state.x, "u": state.u, "m": state.m, "t": state.t, **hyper})
    gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    for l in (positive_int("l", l) for l in l_values):
        check.rows += _rows(method, l, adaptive_svag_increments(problem, method, state, lr, l, paths, seed, **hyper),
                            svag_step_moments(problem, method, state, lr, l, **hyper))
        check.rows += _rows(method + "_sde", l, _sde_samples(problem, method, state, lr, l, paths, gen, hyper),
                            sde_step_moments(problem, method, state, lr, l, **hyper))
    check.gaps = moment_gaps(problem, method, state, lr, gap_l, **hyper)
    check.exponents = gap_exponents(check.gaps)
    return check
