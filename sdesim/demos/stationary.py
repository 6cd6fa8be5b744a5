"""The stationary law of SGD on a 2-d quadratic against the Lyapunov equation and the Gibbs law."""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import finite_array, positive_float
from sdesim.problems import quadratic
from sdesim.demos.demo import Demo, Row, _check_paths, _figure, _final_samples, _titled
from sdesim.kernels.precision import check_dtype


def stationary_covariances(hessian, noise_cov, lr: float):
    """Exact stationary covariances on L(x) = ½ xᵀHx with constant noise covariance Σ.

    SGD (eq. (1)):      S = (I − ηH) S (I − ηH) + η²Σ   (discrete Lyapunov);
    the SDE (eq. (2)):  H S + S H = ηΣ                  (continuous Lyapunov);
    Gibbs ∝ exp(−L/T):  S = T H⁻¹ with T = η Tr Σ / (2d), the temperature that gives the SDE's E L.
    The SDE's stationary law is Gibbs exactly when Σ is a multiple of the identity.
    """
    from scipy.linalg import solve_continuous_lyapunov, solve_discrete_lyapunov

    h = finite_array("hessian", hessian, ndim=2)
    s = finite_array("noise_cov", noise_cov, shape=h.shape)
    d = h.shape[0]
    rho = np.eye(d) - lr * h
    if np.max(np.abs(np.linalg.eigvals(rho))) >= 1:
        raise ValueError(f"SGD with lr={lr} has no stationary law on this H: need all eigenvalues of ηH in (0, 2)")
    sgd = solve_discrete_lyapunov(rho, lr**2 * s)
    sde = solve_continuous_lyapunov(h, lr * s)
    temperature = lr * np.trace(s) / (2 * d)
    gibbs = temperature * np.linalg.inv(h)
    return sgd, sde, gibbs


def _ellipse(ax, cov, color, style, label, scale=2.0):
    values, vectors = np.linalg.eigh(cov)
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    points = vectors @ (scale * np.sqrt(values)[:, None] * circle)
    ax.plot(points[0], points[1], style, color=color, lw=1.6, label=label)


def stationary_gibbs(*, lr: float = 0.1, hessian=((1.0, 0.0), (0.0, 4.0)),
                     noise_cov=((0.4, 0.6), (0.6, 1.6)), time: float = 12.0, paths: int = 20_000,
                     seed: int = 0, dtype: str = "float64") -> Demo:
    """SGD's stationary spread on a 2-d quadratic with anisotropic noise, against the SDE and Gibbs.

    Left: Σ = ``noise_cov`` (not a multiple of I, not commuting with H): the SDE's stationary
    covariance (Lyapunov) is not T H⁻¹, so the law is not Gibbs.  Right: Σ = (Tr Σ/2) I, where
    it is.  The dots are SGD at ``time`` (long enough to forget x₀ = x* = 0), the ellipses
    the 2-standard-deviation contours of the exact covariances.  ``dtype``: the paths' floating-point type.
    """
    dtype = check_dtype(dtype)
    lr = positive_float("lr", lr)
    time = positive_float("time", time)
    paths = _check_paths("stationary-gibbs", paths)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    h = finite_array("hessian", hessian, shape=(2, 2))
    s = finite_array("noise_cov", noise_cov, shape=(2, 2))
    isotropic = np.trace(s) / 2 * np.eye(2)
    fig, axes = _figure(9.0, 4.2, columns=2)
    rows = []
    for ax, (name, sigma) in zip(axes, (("anisotropic Σ", s), ("isotropic Σ", isotropic))):
        sgd_exact, sde_exact, gibbs = stationary_covariances(h, sigma, lr)
        problem = quadratic(2, hessian=h, minimizer=np.zeros(2), noise_cov=sigma)
        x, _ = _final_samples(problem, "sgd", lr=lr, steps=steps, paths=paths, seed=seed, dtype=dtype)
        centered = x - x.mean(axis=0)
        for i, j, label in ((0, 0, "Var x₁"), (1, 1, "Var x₂"), (0, 1, "Cov x₁x₂")):
            products = centered[:, i] * centered[:, j]
            rows.append(Row(f"{name}: SGD {label}", float(products.mean()), float(products.std() / math.sqrt(paths)),
                            float(sgd_exact[i, j])))
        for i, j, label in ((0, 0, "Var x₁"), (1, 1, "Var x₂"), (0, 1, "Cov x₁x₂")):
            rows.append(Row(f"{name}: SDE (Lyapunov) {label}, exact", float(sde_exact[i, j])))
            rows.append(Row(f"{name}: Gibbs T H⁻¹ {label}, exact", float(gibbs[i, j])))
        rows.append(Row(f"{name}: |S_SDE − T H⁻¹| / |T H⁻¹|, exact",
                        float(np.linalg.norm(sde_exact - gibbs) / np.linalg.norm(gibbs))))
        shown = x[: min(paths, 3000)]
        ax.plot(shown[:, 0], shown[:, 1], ".", ms=1.5, color="0.6", alpha=0.6, label="SGD samples")
        _ellipse(ax, sgd_exact, "C0", "-", "SGD, exact")
        _ellipse(ax, sde_exact, "C1", "--", "SDE: HS + SH = ηΣ")
        _ellipse(ax, gibbs, "C3", ":", "Gibbs: T H⁻¹")
        ax.set_aspect("equal")
        ax.set_title(f"{name} = [[{sigma[0, 0]:g}, {sigma[0, 1]:g}], [{sigma[1, 0]:g}, {sigma[1, 1]:g}]]")
        ax.set_xlabel("x₁")
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("x₂")
    fig.suptitle(f"stationary law on ½xᵀHx, H = diag({h[0, 0]:g}, {h[1, 1]:g}), η = {lr:g}")
    return Demo(_titled("stationary covariance of SGD, against the Lyapunov solution and Gibbs (exact: Lyapunov "
                        "equations)", dtype), fig, rows)
