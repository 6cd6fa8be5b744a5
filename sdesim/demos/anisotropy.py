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
    """The temperatures the SDE's stationary law has along each axis, against the one Gibbs has, as the
    noise turns anisotropic (`anisotropic_noise`); all exact.

    The SDE's stationary covariance S solves H S + S H = ηΣ(α) (eq. (2)); Gibbs ∝ exp(−L/T) has
    S = T H⁻¹, i.e. H S = T I: one temperature T = η Tr Σ/(2d) in every direction.  With H diagonal,
    S_ii = ηΣ_ii/(2H_ii), so direction i feels T_i = (H S)_ii = ηΣ_ii/2: equal only for isotropic Σ.
    Rows: the relative distance |S − T H⁻¹| / |T H⁻¹|, T, and (H S)_ij at the given α.
    """
    lr = positive_float("lr", lr)
    points = positive_int("points", points)
    sigma = anisotropic_noise(anisotropy, base)
    if sigma.shape != (2, 2):
        raise ValueError(f"gibbs_gap draws two directions: base must be 2×2, got shape {sigma.shape}")
    h = finite_array("hessian", hessian, shape=sigma.shape)

    def laws(s):
        _, sde, gibbs = stationary_covariances(h, s, lr)
        return sde, gibbs

    sde, gibbs = laws(sigma)
    temperature = float((gibbs @ h)[0, 0])                     # T H⁻¹ H = T I
    felt = h @ sde
    rows = [Row(f"α = {float(anisotropy):g}: |S_SDE − T H⁻¹| / |T H⁻¹|, exact",
                float(np.linalg.norm(sde - gibbs) / np.linalg.norm(gibbs))),
            Row("Gibbs temperature T = η Tr Σ / (2d), exact", temperature)]
    rows += [Row(f"(H S_SDE)_{i + 1}{j + 1}" + (f": temperature along x{i + 1}" if i == j else ": Gibbs has 0")
                 + ", exact", float(felt[i, j])) for i, j in ((0, 0), (1, 1), (0, 1))]
    alphas = np.linspace(0.0, 1.0, max(points, 2))
    curves = np.array([h @ laws(anisotropic_noise(a, base))[0] for a in alphas])
    fig, (ax,) = _figure(4.8, 3.6)
    for (i, j), color, label in (((0, 0), "C0", "(HS)₁₁: along x₁"), ((1, 1), "C1", "(HS)₂₂: along x₂"),
                                 ((0, 1), "C2", "(HS)₁₂: Gibbs has 0")):
        ax.plot(alphas, curves[:, i, j], "-", color=color, label=label)
        ax.plot([float(anisotropy)], [felt[i, j]], "o", color=color)
    ax.axhline(temperature, color="k", ls="--", lw=1, label=f"Gibbs: T = {temperature:.3g}")
    ax.axvline(float(anisotropy), color="0.6", lw=0.8)
    ax.set_xlabel("anisotropy α (0: Σ ∝ I)")
    ax.set_ylabel("H S of the SDE's stationary law")
    ax.set_title(f"one temperature only at α = 0 (η = {lr:g})")
    ax.legend(fontsize=8)
    return Demo("temperatures of the SDE's stationary law against Gibbs' one (exact: Lyapunov equations)", fig, rows)
