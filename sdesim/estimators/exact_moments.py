"""Exact first and second moments, without Monte Carlo, for linear-quadratic problems.

With ∇L(x) = Hx − v, weight decay λ (M = H + λI) and E Σ(x) linear in m = E x and
S = E xxᵀ (see `LinearQuadraticForm`), one small step of
size h of every method has noise of conditional mean 0 and covariance hη Σ(x):

    SGD (h = η), SVAG (h = η/l: h²(c₁² + c₂²) = h²l = hη), NGD (h = η), Euler (h),

so all of them follow the same affine recursion, with F = I − hM:

    m ← F m + h v
    S ← F S Fᵀ + h (F m vᵀ + v mᵀ Fᵀ) + h² v vᵀ + hη E Σ(x)

and the SDE (2) the linear ODE

    ṁ = −M m + v,   Ṡ = −M S − S Mᵀ + m vᵀ + v mᵀ + η E Σ(x).

Both act linearly on y = (m, vec S, 1); the recursion is raised to a power by
repeated squaring and the ODE solved by a matrix exponential, so the moments at
any l cost O(log l) products of (d + d² + 1)-square matrices.

A consequence worth knowing: SVAG and Euler–Maruyama with the same step have
identical first and second moments here, so a quadratic test function cannot see
the non-Gaussian part of SVAG's noise; a fourth moment can (see ``weak_error``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from sdesim._checks import check_memory
from sdesim.methods import plan
from sdesim.problems.base import LinearQuadraticForm, Problem


MATRICES_HELD = 4     # (d + d² + 1)-square matrices the engine holds at once (a power or exponential and its work)


def moment_form(problem: Problem) -> LinearQuadraticForm:
    """The problem's linear-quadratic form, or a clear error if its moments do not close or would not fit.

    The engine's (d + d² + 1)-square matrices are checked against memory before the form is built.
    """
    if not problem.has_linear_quadratic:
        raise ValueError(
            f"problem {problem.name!r} has no closed moment recursions (exact moments exist for 'quadratic' "
            "and for 'linear_regression' with i.i.d. batches); use Monte Carlo instead of exact moments")
    d = problem.dim
    size = d + d * d + 1
    check_memory(MATRICES_HELD * size * size * 8,
                 f"exact moments of problem {problem.name!r} in d = {d} dimensions ({MATRICES_HELD} matrices "
                 f"of (d + d² + 1)² = {size}² numbers)",
                 "Use Monte Carlo: exact=False (drop --exact) and control_variates=False (--no-control-variates)")
    return problem.linear_quadratic


@dataclass(frozen=True)
class Moments:
    """E x and E xxᵀ at each requested time."""

    times: np.ndarray
    mean: np.ndarray      # (times, d)
    second: np.ndarray    # (times, d, d)


class ExactMoments:
    """The exact moment engine of one problem at one learning rate η."""

    def __init__(self, problem: Problem, lr: float):
        self.problem, self.form, self.lr = problem, moment_form(problem), float(lr)
        d = problem.dim
        self.dim = d
        self.drift = self.form.hessian + problem.weight_decay * np.eye(d)

    def expected_sigma(self, m: np.ndarray, s: np.ndarray) -> np.ndarray:
        """E Σ(x) from m = E x and S = E xxᵀ."""
        return self._sigma_linear(m, s, 1.0)

    # the linear maps on y = (m, vec S, 1) --------------------------------------------------
    def _pack(self, m, s, one=1.0):
        return np.concatenate([m, s.ravel(), [one]])

    def _unpack(self, y):
        d = self.dim
        return y[:d], y[d:d + d * d].reshape(d, d), y[-1]

    def _matrix_of(self, affine) -> np.ndarray:
        """Columns: the images of the basis vectors under a map that is linear in y."""
        n = self.dim + self.dim**2 + 1
        return np.column_stack([affine(*self._unpack(e)) for e in np.eye(n)])

    def step_matrix(self, h: float) -> np.ndarray:
        """One small step of size h of any method (the noise scale is hη for all of them)."""
        return np.eye(self.dim + self.dim**2 + 1) + self.step_increment(h)

    def step_increment(self, h: float) -> np.ndarray:
        """T − I for the step matrix T, built without forming T: with F = I − hM,

            Δm = −hMm + hv,   ΔS = −h(MS + SMᵀ) + h²MSMᵀ + h(Fm vᵀ + v mᵀFᵀ) + h²vvᵀ + hη E Σ(x).

        Stored as I + (T − I), T would keep only the digits of its O(h) part that fit beside
        the 1, about 1e-11 of them at h = 1e-5; this form keeps them all.
        """
        v, eta, mm = self.form.offset, self.lr, self.drift

        def increment(m, s, one):
            fm = m - h * (mm @ m)
            ms = mm @ s
            ds = (-h * (ms + ms.T) + h * h * (ms @ mm.T) + h * (np.outer(fm, v) + np.outer(v, fm))
                  + h * h * one * np.outer(v, v) + h * eta * self._sigma_linear(m, s, one))
            return self._pack(-h * (mm @ m) + h * one * v, ds, 0.0)

        return self._matrix_of(increment)

    def generator(self) -> np.ndarray:
        """The generator of the SDE's moment ODE (the last row is 0: y's constant stays 1)."""
        v, eta, mm = self.form.offset, self.lr, self.drift

        def rate(m, s, one):
            ds = -mm @ s - s @ mm.T + np.outer(m, v) + np.outer(v, m) + eta * self._sigma_linear(m, s, one)
            return self._pack(-mm @ m + one * v, ds, 0.0)

        return self._matrix_of(rate)

    def _sigma_linear(self, m, s, one):
        """E Σ with its constant terms multiplied by ``one``, so that the map is linear in y."""
        f = self.form
        out = one * f.sigma0
        if f.rows.shape[0]:
            dm = f.rows @ m
            out = out + f.scale * (np.einsum("nij,jk,nlk->il", f.rows, s, f.rows)
                                   - np.einsum("ni,nk->ik", dm, f.cols) - np.einsum("ni,nk->ik", f.cols, dm)
                                   + one * np.einsum("ni,nk->ik", f.cols, f.cols))
        return 0.5 * (out + out.T)

    # moments at effective steps ---------------------------------------------------------
    def method_moments(self, method: str, l: int, effective_steps, x0, *, dt: float | None = None) -> Moments:
        """Exact moments of ``method`` (sgd, svag, ngd, sde = Euler) at the given effective steps."""
        step_plan = plan(method, self.lr, l, dt=dt)
        small = step_plan.small_steps(effective_steps)
        increment = self.step_increment(step_plan.h)
        y = self._pack(np.asarray(x0, float), np.outer(x0, x0))
        out, done = [], 0
        for k in small:
            y = y + _power_increment(increment, int(k - done)) @ y
            done = k
            out.append(y.copy())
        return self._moments(np.asarray(effective_steps) * self.lr, out)

    def sde_moments(self, times, x0) -> Moments:
        """Exact moments of the SDE (2) at the given times."""
        g = self.generator()
        y0 = self._pack(np.asarray(x0, float), np.outer(x0, x0))
        return self._moments(np.asarray(times, float), [scipy.linalg.expm(g * t) @ y0 for t in times])

    def _moments(self, times, ys) -> Moments:
        means, seconds = [], []
        for y in ys:
            m, s, _ = self._unpack(y)
            means.append(m)
            seconds.append(0.5 * (s + s.T))
        return Moments(times, np.array(means), np.array(seconds))

    # quadratic test functions ----------------------------------------------------------
    def observables(self, moments: Moments) -> dict:
        """Exact E of the built-in observables (x, norm2, loss, grad_norm2, noise_trace) at each time."""
        f = self.form
        h, v = f.hessian, f.offset
        out = {"x": moments.mean, "norm2": [], "loss": [], "grad_norm2": [], "noise_trace": []}
        for m, s in zip(moments.mean, moments.second):
            out["norm2"].append(np.trace(s))
            out["loss"].append(0.5 * np.sum(h * s) - v @ m + f.constant)
            out["grad_norm2"].append(np.sum((h @ h) * s) - 2 * v @ h @ m + v @ v)
            out["noise_trace"].append(np.trace(self.expected_sigma(m, s)))
        return {k: np.asarray(val) for k, val in out.items()}


def _power_increment(d: np.ndarray, n: int) -> np.ndarray:
    """(I + D)ⁿ − I by repeated squaring in the increment form, (I + A)(I + B) − I = A + B + AB:
    the identity is never added, so nothing of a small D is lost to rounding against it."""
    result = np.zeros_like(d)
    while n:
        if n & 1:
            result = result + d + result @ d
        d = 2.0 * d + d @ d
        n >>= 1
    return result
