"""How SVAG's skew fades with l: the exact third central moment of x at one time against its 1/l limit."""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import choice, positive_float, positive_int
from sdesim.problems.noise import NOISE_LAWS, THIRD_MOMENT
from sdesim.demos.demo import Demo, Row, _figure
from sdesim.demos.fixed_time import svag_exact_moments


def svag_skew_limit(lr: float, time: float, *, noise: str = "exponential", hessian: float = 1.0,
                    noise_var: float = 1.0) -> float:
    """lim_{l→∞} l · κ₃(x_t) for SVAG (eq. (5)) on the 1-d quadratic: −η² κ₃ s^{3/2} (1 − e^{−3at}) / (2a).

    From `svag_exact_moments`: κ₃ = −h³ ((3l − 1)/2) κ₃ s^{3/2} Σ_{m<n} ρ^{3m} with h = η/l, ρ = 1 − ha,
    n = l t/η, and Σ ρ^{3m} = (1 − ρ^{3n})/(1 − ρ³) → (1 − e^{−3at})/(3ah): so κ₃ ≈ c/l, the skew of
    SGD's law vanishing like 1/l (Theorem 4.3's order 1 seen in one moment).
    """
    choice("noise law", noise, NOISE_LAWS)
    lr, time = positive_float("lr", lr), positive_float("time", time)
    hessian, noise_var = positive_float("hessian", hessian), positive_float("noise_var", noise_var)
    return -(lr**2) * THIRD_MOMENT[noise] * noise_var**1.5 * (1 - math.exp(-3 * hessian * time)) / (2 * hessian)


def svag_skew(l_values=(1, 2, 4, 8, 16, 32, 64), *, lr: float = 0.5, time: float = 1.0, noise: str = "exponential",
              measured=()) -> Demo:
    """SVAG's exact third central moment of x at ``time`` against l (l = 1 is SGD), and the limit c/l.

    On ½(x − 1)² from x₀ = 0 with the noise law ``noise``; ``measured`` adds points (l, κ₃, stderr),
    e.g. from `histograms`' rows.  Symmetric laws (gaussian, rademacher) have κ₃ = 0 at every l.
    """
    l_values = tuple(positive_int("l", l) for l in l_values)
    if not l_values:
        raise ValueError("l_values must name at least one l")
    choice("noise law", noise, NOISE_LAWS)
    lr, time = positive_float("lr", lr), positive_float("time", time)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    third = THIRD_MOMENT[noise]
    exact = [svag_exact_moments(lr, l, steps, third=third)[2] for l in l_values]
    limit = svag_skew_limit(lr, time, noise=noise)
    rows = [Row(f"{'SGD' if l == 1 else f'SVAG l={l}'}: third central moment, exact", k3)
            for l, k3 in zip(l_values, exact)]
    rows.append(Row("limit of l × third central moment, exact", limit))
    fig, (ax,) = _figure(5.6, 3.8)
    ls = np.array(l_values, dtype=float)
    ax.plot(ls, exact, "o-", color="C0", label="SVAG, exact (l = 1: SGD)")
    fine = np.geomspace(ls.min(), ls.max(), 200)
    ax.plot(fine, limit / fine, "k--", lw=1, label=f"{limit:+.3g} / l")
    for l, k3, se in measured:
        ax.errorbar([l], [k3], yerr=[2 * se], fmt="s", color="C3", ms=5)
    if measured:
        ax.plot([], [], "s", color="C3", label="measured (± 2 s.e.)")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("l")
    ax.set_ylabel(f"third central moment of x at t = {time:g}")
    ax.set_title(f"the skew fades like 1/l ({noise} noise, η = {lr:g})")
    ax.legend(fontsize=8)
    return Demo(f"SVAG's third central moment against l (exact: closed form, limit {limit:.4g}/l)", fig, rows)
