"""How far the SDE's stationary law is from Gibbs as the noise turns anisotropic, on a 2-d quadratic."""

from __future__ import annotations

import numbers

import numpy as np

from sdesim._checks import finite_array, positive_float, positive_int
from sdesim.demos.demo import Demo, Row, _figure
from sdesim.demos.stationary import stationary_covariances

HESSIAN = ((1.0, 0.0), (0.0, 4.0))
ANISOTROPIC = ((0.4, 0.6), (0.6, 1.6))     # stationary_gibbs' default Σ: trace 2, not a multiple of I


def anisotropic_noise(anisotropy: float, base=ANISOTROPIC) -> np.ndarray:
    """Σ(α) = (1 − α)(Tr Σ₀/d) I + α Σ₀: isotropic at α = 0, Σ₀ = ``base`` at α = 1, Tr Σ(α) = Tr Σ₀ throughout.

    The trace, and with it the Gibbs temperature T = η Tr Σ/(2d), stays fixed: only the noise's shape moves.
    A convex combination of positive semi-definite matrices, so a covariance for every α in [0, 1].
    """
    real = isinstance(anisotropy, numbers.Real) and not isinstance(anisotropy, bool)
    alpha = float(anisotropy) if real else np.nan
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"anisotropy must be a number in [0, 1] (0: isotropic noise, 1: Σ₀), got {anisotropy!r}")
    s0 = finite_array("base", base, ndim=2)
    d = s0.shape[0]
    return (1.0 - alpha) * np.trace(s0) / d * np.eye(d) + alpha * s0


def gibbs_gap(anisotropy: float = 1.0, *, lr: float = 0.1, hessian=HESSIAN, base=ANISOTROPIC,
              points: int = 41) -> Demo:
    """The relative distance |S − T H⁻¹| / |T H⁻¹| of the SDE's stationary covariance S (H S + S H = ηΣ(α),
    eq. (2)) from Gibbs' T H⁻¹ against the anisotropy α (`anisotropic_noise`); all exact.

    Gibbs ∝ exp(−L/T) needs H S = T I: one temperature in every direction.  With H diagonal,
    S_ii = ηΣ_ii/(2H_ii), so direction i feels T_i = H_ii S_ii = ηΣ_ii/2: equal only for isotropic Σ.
    """
    lr = positive_float("lr", lr)
    points = positive_int("points", points)
    sigma = anisotropic_noise(anisotropy, base)
    h = finite_array("hessian", hessian, shape=sigma.shape)

    def gap(s):
        _, sde, gibbs = stationary_covariances(h, s, lr)
        return float(np.linalg.norm(sde - gibbs) / np.linalg.norm(gibbs)), sde, gibbs

    now, sde, gibbs = gap(sigma)
    temperatures = h @ sde
    alphas = np.linspace(0.0, 1.0, max(points, 2))
    curve = [gap(anisotropic_noise(a, base))[0] for a in alphas]
    rows = [Row(f"α = {float(anisotropy):g}: |S_SDE − T H⁻¹| / |T H⁻¹|, exact", now),
            Row("Gibbs temperature T = η Tr Σ / (2d), exact", float((gibbs @ h)[0, 0]))]    # T H⁻¹ H = T I
    rows += [Row(f"temperature felt along x{i + 1}: (H S_SDE)_{i + 1}{i + 1}, exact", float(temperatures[i, i]))
             for i in range(len(sigma))]
    fig, (ax,) = _figure(4.8, 3.6)
    ax.plot(alphas, curve, "-", color="C3", label="SDE's stationary law against Gibbs")
    ax.plot([float(anisotropy)], [now], "o", color="k", label=f"α = {float(anisotropy):g}")
    ax.set_xlabel("anisotropy α (0: Σ ∝ I)")
    ax.set_ylabel("|S − T H⁻¹| / |T H⁻¹|")
    ax.set_title(f"Gibbs only at α = 0 (η = {lr:g})")
    ax.legend(fontsize=8)
    return Demo("distance of the SDE's stationary law from Gibbs (exact: Lyapunov equations)", fig, rows)
