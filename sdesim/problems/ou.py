"""The closed-form Ornstein–Uhlenbeck solution of the SDE (2) for linear drift and constant noise.

dX = −(M X − b) dt + (η Σ)^{1/2} dW with M symmetric.  With M = Q diag(m) Qᵀ and
φ(m, t) = (1 − e^{−m t}) / m (= t at m = 0):

    E X_t   = e^{−M t} x₀ + Q diag(φ(m, t)) Qᵀ b
    Cov X_t = η Q [ (Qᵀ Σ Q)_{ij} φ(m_i + m_j, t) ] Qᵀ

Both are exact to rounding for any symmetric M, stable or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdesim._checks import psd_sqrt


def _phi(m: np.ndarray, t: float) -> np.ndarray:
    """(1 − e^{−m t}) / m elementwise, = t where m = 0."""
    m = np.asarray(m, dtype=np.float64)
    out = np.full(m.shape, float(t))
    nz = m != 0.0
    out[nz] = -np.expm1(-m[nz] * t) / m[nz]
    return out


@dataclass(frozen=True, eq=False)
class OrnsteinUhlenbeck:
    """dX = −(M X − b) dt + (η Σ)^{1/2} dW, with M symmetric and Σ constant.

    ``hessian`` A and ``minimizer`` x* describe the loss L(x) = ½ (x−x*)ᵀA(x−x*)
    whose observables `observables` returns in closed form.
    """

    drift_matrix: np.ndarray
    drift_offset: np.ndarray
    noise_cov: np.ndarray
    hessian: np.ndarray
    minimizer: np.ndarray

    def __post_init__(self):
        m, q = np.linalg.eigh(self.drift_matrix)
        object.__setattr__(self, "_eig", (m, q))

    def mean(self, t: float, x0: np.ndarray) -> np.ndarray:
        """E X_t from X_0 = x0."""
        m, q = self._eig
        decay = (q * np.exp(-m * t)) @ q.T
        return decay @ x0 + (q * _phi(m, t)) @ (q.T @ self.drift_offset)

    def cov(self, t: float, eta: float) -> np.ndarray:
        """Cov X_t (independent of X_0)."""
        m, q = self._eig
        inner = q.T @ self.noise_cov @ q
        rates = m[:, None] + m[None, :]
        out = eta * q @ (inner * _phi(rates, t)) @ q.T
        return 0.5 * (out + out.T)

    def transition(self, h: float, eta: float):
        """(F, c, K) with X_{t+h} = F X_t + c + K z, z ~ N(0, I): the exact one-step law."""
        m, q = self._eig
        f = (q * np.exp(-m * h)) @ q.T
        c = (q * _phi(m, h)) @ (q.T @ self.drift_offset)
        k = psd_sqrt("transition covariance", self.cov(h, eta))
        return np.ascontiguousarray(f), np.ascontiguousarray(c), k

    def observables(self, t: float, x0: np.ndarray, eta: float) -> dict:
        """Exact E of the built-in observables at time t: x, |x|², L, |∇L|², Tr Σ."""
        mean, cov = self.mean(t, x0), self.cov(t, eta)
        a, e = self.hessian, mean - self.minimizer
        return {
            "x": mean,
            "norm2": float(mean @ mean + np.trace(cov)),
            "loss": float(0.5 * (e @ a @ e + np.trace(a @ cov))),
            "grad_norm2": float((a @ e) @ (a @ e) + np.trace(a @ cov @ a)),
            "noise_trace": float(np.trace(self.noise_cov)),
        }
