"""The sum of N minibatch noises: SGD on a flat loss, its law after N steps against its exact cumulants."""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import choice, positive_float, positive_int
from sdesim.problems import quadratic
from sdesim.problems.noise import FOURTH_MOMENT, NOISE_LAWS, THIRD_MOMENT
from sdesim.demos.demo import Demo, Row, _check_paths, _figure
from sdesim.simulate import simulate


def noise_sum_moments(noise: str, steps: int, lr: float, noise_var: float = 1.0):
    """Mean, variance, skewness and excess kurtosis of S_N = η Σ_{i≤N} (g − ĝ_i) = −η Σ ξ_i.

    ξ_i i.i.d. with variance s = ``noise_var`` and the standardized cumulants κ₃, κ₄ of the
    noise law (`sdesim.problems.noise`).  Cumulants add over independent terms and scale as
    κ_n(cX) = cⁿ κ_n(X), so κ_n(S_N) = N (−η)ⁿ κ_n s^{n/2}:

        E S_N = 0,   Var S_N = N η² s,   skewness = −κ₃ / √N,   excess kurtosis = κ₄ / N.

    The central limit theorem of the lecture (and eq. (2)'s Gaussian noise): the spread grows like √N,
    the shape's departures from the Gaussian (0, 0) vanish like 1/√N and 1/N.  With time t = Nη,
    Var S_N = η s t: the variance per unit time is η s, the SDE's diffusion ηΣ.
    """
    choice("noise law", noise, NOISE_LAWS)
    steps = positive_int("steps", steps)
    lr = positive_float("lr", lr)
    noise_var = positive_float("noise_var", noise_var)
    kappa3 = THIRD_MOMENT[noise]
    kappa4 = FOURTH_MOMENT[noise] - 3.0
    return 0.0, steps * lr**2 * noise_var, 0.0 - kappa3 / math.sqrt(steps), kappa4 / steps


def standardized_moments(samples: np.ndarray):
    """Sample skewness and excess kurtosis, each with a standard error from its influence function.

    With d = x − x̄ and m_k the sample central moments, skewness g = m₃/m₂^{3/2} and excess
    kurtosis k = m₄/m₂² − 3; their influence functions (delta method) are
    (d³ − m₃ − 3m₂d)/m₂^{3/2} − (3/2) g (d² − m₂)/m₂ and (d⁴ − m₄ − 4m₃d)/m₂² − 2 (m₄/m₂²)(d² − m₂)/m₂.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[0]
    d = x - x.mean(axis=0)
    m2, m3, m4 = (np.mean(d**k, axis=0) for k in (2, 3, 4))
    skew = m3 / m2**1.5
    kurt = m4 / m2**2
    influence_skew = (d**3 - m3 - 3 * m2 * d) / m2**1.5 - 1.5 * skew * (d**2 - m2) / m2
    influence_kurt = (d**4 - m4 - 4 * m3 * d) / m2**2 - 2 * kurt * (d**2 - m2) / m2
    root = math.sqrt(n)
    return (skew, influence_skew.std(axis=0) / root), (kurt - 3.0, influence_kurt.std(axis=0) / root)


def noise_sum_samples(*, lr: float, steps: int, noise: str, paths: int, seed: int = 0, every: int = 1):
    """x_k = S_k on every path (paths × steps/``every``): SGD on the flat loss L = 0 (the 1-d quadratic with
    a = 0) from x₀ = 0, kept at every ``every``-th step k = every, 2·every, …, steps."""
    choice("noise law", noise, NOISE_LAWS)
    lr = positive_float("lr", lr)
    steps = positive_int("steps", steps)
    every = positive_int("every", every)
    if steps % every:
        raise ValueError(f"every ({every}) must divide steps ({steps})")
    paths = _check_paths("noise-sum", paths)
    problem = quadratic(1, hessian=[[0.0]], minimizer=[0.0], noise=noise)
    run = simulate(problem, "sgd", lr=lr, steps=steps, paths=paths, seed=seed, x0=[0.0], keep_paths=paths,
                   keep_every=every, observables=["x"])
    return run.kept_paths[:, 1:, 0]


def noise_sum(*, lr: float = 0.1, steps: int = 16, noise: str = "exponential", paths: int = 20_000,
              seed: int = 0) -> Demo:
    """SGD on the flat loss L = 0 (the 1-d quadratic with a = 0) from x₀ = 0: x_k = S_k, the sum of k noises.

    Left: x after ``steps`` steps against the Gaussian with the same variance.  Middle: Var x_k
    against time t = kη and the line η s t.  Right: skewness and excess kurtosis of x_k against
    −κ₃/√k and κ₄/k (`noise_sum_moments`).
    """
    x = noise_sum_samples(lr=lr, steps=steps, noise=noise, paths=paths, seed=seed)   # paths × N: x_1 … x_N
    k = np.arange(1, steps + 1)
    d = x - x.mean(axis=0)
    var = np.mean(d**2, axis=0)
    var_se = (d**2).std(axis=0) / math.sqrt(paths)
    (skew, skew_se), (kurt, kurt_se) = standardized_moments(x)
    exact = [noise_sum_moments(noise, int(j), lr) for j in k]
    mean_n, var_n, skew_n, kurt_n = exact[-1]
    final = x[:, -1]
    rows = [Row(f"mean of x after N={steps}", float(final.mean()), float(final.std() / math.sqrt(paths)), mean_n),
            Row(f"variance of x after N={steps}", float(var[-1]), float(var_se[-1]), var_n),
            Row(f"skewness of x after N={steps}", float(skew[-1]), float(skew_se[-1]), skew_n),
            Row(f"excess kurtosis of x after N={steps}", float(kurt[-1]), float(kurt_se[-1]), kurt_n)]

    fig, (ax_hist, ax_var, ax_shape) = _figure(11.0, 3.6, columns=3)
    spread = math.sqrt(var_n)
    edges = np.linspace(-4.5 * spread, 4.5 * spread, 61)
    ax_hist.hist(final, bins=edges, density=True, color="0.75", label=f"x after N={steps} steps")
    grid = np.linspace(edges[0], edges[-1], 400)
    ax_hist.plot(grid, np.exp(-grid**2 / (2 * var_n)) / math.sqrt(2 * math.pi * var_n), "k--", lw=1,
                 label="Gaussian, variance Nη²s")
    ax_hist.set_xlabel("x_N = η Σ (g − ĝ_i)")
    ax_hist.set_title(f"{noise} noise, η = {lr:g}, {paths} paths")
    ax_hist.legend(fontsize=8)
    t = k * lr
    ax_var.errorbar(t, var, yerr=2 * var_se, fmt="o", ms=3, color="C0", label="measured (± 2 s.e.)")
    ax_var.plot(t, [e[1] for e in exact], "k--", lw=1, label="η s t = N η² s")
    ax_var.set_xlabel("time t = kη (sum of the learning rates)")
    ax_var.set_title("variance grows like N: spread like √N")
    ax_var.legend(fontsize=8)
    ax_shape.errorbar(k, skew, yerr=2 * skew_se, fmt="o", ms=3, color="C1", label="skewness")
    ax_shape.plot(k, [e[2] for e in exact], "--", color="C1", lw=1, label="−κ₃/√k")
    ax_shape.errorbar(k, kurt, yerr=2 * kurt_se, fmt="s", ms=3, color="C2", label="excess kurtosis")
    ax_shape.plot(k, [e[3] for e in exact], "--", color="C2", lw=1, label="κ₄/k")
    ax_shape.axhline(0.0, color="k", lw=0.5)
    ax_shape.set_xlabel("steps k")
    ax_shape.set_title("the shape turns Gaussian (0, 0)")
    ax_shape.legend(fontsize=8)
    return Demo(f"the sum of N={steps} {noise} noises (exact: cumulants of the noise law)", fig, rows)
