"""SGD, SVAG and the SDE at one time on the 1-d quadratic (skewed noise by default), with their exact moments."""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import choice, positive_float, positive_int
from sdesim.problems import quadratic
from sdesim.problems.noise import NOISE_LAWS, THIRD_MOMENT
from sdesim.demos.demo import Demo, Row, _central_moments, _check_paths, _figure, _final_samples, _titled
from sdesim.kernels.precision import check_dtype


def svag_exact_moments(lr: float, l: int, steps: int, *, hessian: float = 1.0, minimizer: float = 1.0,
                       x0: float = 0.0, noise_var: float = 1.0, third: float = 2.0):
    """Mean, variance and third central moment of SVAG (eq. (5)) after ``steps`` effective steps, 1-d quadratic.

    With h = η/l, ρ = 1 − h a and n = l·steps small steps, x_n − E x_n = −h Σ_j ρ^{n−1−j} N_j where
    N = c₁ξ₁ + c₂ξ₂ has E N² = l s and E N³ = ((3l − 1)/2) κ₃ s^{3/2}, so
    E x_n = x* + ρⁿ (x₀ − x*),  Var = h² l s Σ_m ρ^{2m},  κ₃(x_n) = −h³ ((3l − 1)/2) κ₃ s^{3/2} Σ_m ρ^{3m}.
    l = 1 is SGD (eq. (1)).
    """
    h = lr / l
    rho = 1.0 - h * hessian
    n = l * steps
    powers = rho ** np.arange(n)
    mean = minimizer + rho**n * (x0 - minimizer)
    var = h**2 * l * noise_var * np.sum(powers**2)
    m3 = 0.0 - h**3 * (3 * l - 1) / 2 * third * noise_var**1.5 * np.sum(powers**3)   # 0.0 −: no −0 for κ₃ = 0
    return float(mean), float(var), float(m3)


def sde_exact_moments(lr: float, time: float, *, hessian: float = 1.0, minimizer: float = 1.0,
                      x0: float = 0.0, noise_var: float = 1.0):
    """Mean and variance of the SDE (eq. (2)) dX = −a(X − x*) dt + √(ηs) dW at ``time``; it is Gaussian (κ₃ = 0)."""
    mean = minimizer + math.exp(-hessian * time) * (x0 - minimizer)
    var = lr * noise_var * (1.0 - math.exp(-2.0 * hessian * time)) / (2.0 * hessian)
    return mean, var


def histograms(l_values=(1, 2, 8), *, lr: float = 0.5, time: float = 1.0, paths: int = 40_000, seed: int = 0,
               bins: int = 80, noise: str = "exponential", dtype: str = "float64") -> Demo:
    """Histograms of x at ``time`` for SVAG with each l (l = 1 is SGD) and the SDE, closing in on each other.

    The problem is the 1-d quadratic L(x) = ½(x − 1)² started at 0, with the noise law ``noise``
    (`sdesim.problems.noise`; the default, skewed ξ = Exp(1) − 1, has variance 1 and third moment 2).
    The mean follows gradient descent with SVAG's step, E x = 1 − (1 − η/l)^(l·steps) (0.75 for SGD at
    η = 0.5, t = 1), and approaches the SDE's 1 − e^(−t) (0.632) as l grows, as do the variance and
    skewness (the SDE's skewness is 0).  ``dtype``: the paths' floating-point type.
    """
    dtype = check_dtype(dtype)
    l_values = tuple(positive_int("l", l) for l in l_values)
    if not l_values:
        raise ValueError("l_values must name at least one l")
    lr = positive_float("lr", lr)
    time = positive_float("time", time)
    choice("noise law", noise, NOISE_LAWS)
    paths = _check_paths("histograms", paths)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    problem = quadratic(1, noise=noise)
    fig, (ax,) = _figure(6.4, 4.0)
    rows = []
    samples_by = {}
    for l in l_values:
        method = "sgd" if l == 1 else "svag"
        samples, _ = _final_samples(problem, method, l=l, lr=lr, steps=steps, paths=paths, seed=seed + l, dtype=dtype)
        samples_by[l] = samples[:, 0]
    sde, _ = _final_samples(problem, "sde", scheme="exact", lr=lr, steps=steps, paths=paths, seed=seed, dtype=dtype)
    sde = sde[:, 0]
    lo, hi = np.quantile(np.concatenate([*samples_by.values(), sde]), [0.0005, 0.9995])
    edges = np.linspace(lo, hi, bins + 1)
    for i, (l, x) in enumerate(samples_by.items()):
        (m, m_se), (v, v_se), (k3, k3_se) = _central_moments(x)
        em, ev, ek3 = svag_exact_moments(lr, l, steps, third=THIRD_MOMENT[noise])
        name = "SGD" if l == 1 else f"SVAG l={l}"
        rows += [Row(f"{name}: mean", m, m_se, em), Row(f"{name}: variance", v, v_se, ev),
                 Row(f"{name}: third central moment", k3, k3_se, ek3)]
        ax.hist(x, bins=edges, density=True, histtype="step", lw=1.6, color=f"C{i}",
                label=f"{name}: skewness {k3 / v**1.5:+.2f} (exact {ek3 / ev**1.5:+.2f})")
    (m, m_se), (v, v_se), (k3, k3_se) = _central_moments(sde)
    em, ev = sde_exact_moments(lr, time)
    rows += [Row("SDE: mean", m, m_se, em), Row("SDE: variance", v, v_se, ev),
             Row("SDE: third central moment", k3, k3_se, 0.0)]
    ax.hist(sde, bins=edges, density=True, color="0.8", label=f"SDE: skewness {k3 / v**1.5:+.2f} (exact 0)")
    grid = np.linspace(lo, hi, 400)
    ax.plot(grid, np.exp(-((grid - em) ** 2) / (2 * ev)) / math.sqrt(2 * math.pi * ev), "k--", lw=1,
            label="SDE: exact density")
    ax.set_xlabel(f"x at t = {time:g}")
    ax.set_ylabel("density")
    law = "skewed" if noise == "exponential" else noise
    ax.set_title(f"SGD → SVAG → SDE on ½(x−1)², {law} noise, η={lr:g}, {paths} paths")
    ax.legend(fontsize=8)
    return Demo(_titled("x at a fixed time: SGD, SVAG and the SDE (exact: closed forms)", dtype), fig, rows)
