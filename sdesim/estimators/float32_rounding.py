"""How much float32 rounding can move a weak-error study's estimates, and the warning when that is resolved.

A float32 Euler step x ← x + h b(x) + √h σ(x) z rounds each operation to the nearest float32,
a relative error of at most u = 2⁻²⁴.  The computed path is the exact recursion plus a local
error r_k per step, |r_k| ≤ c·u·max(|x_k|, |x_{k+1}|) with c = 4 (the new x, the increment's
product, sum and difference, and the normal rounded from float64), so after K small steps

    |x̂_K − x_K| ≤ Σ_k |r_k| · Π (1 + h·Lip) ≤ K·c·u·max|x|           (a contracting drift: ≤ c·u·max|x| / (h a))

and a test function homogeneous of degree p (|x|², |x|⁴, L of a quadratic) moves by at most
p times that relatively:

    r(l) = c · p · K_l · u · |E g|,   K_l = l·T/η small steps at level l.

r(l) grows like l while the discretization error e(l) ≈ C/l shrinks: they meet at
l* = √(C / (c·p·K₁·u·|E g|)) (docs/guide/float32.md).  The bound is a worst case (round-to-nearest
errors mostly cancel); its clearest visible form is stagnation: an increment h·b(x) below half an ulp
of x is lost, so gradient descent towards x* stops at |x − x*| ≈ u·|x|/(h a), a distance that grows like l.
"""

from __future__ import annotations

import math

UNIT_ROUNDOFF = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
OPS_PER_STEP = 4
DEGREE = {"x": 1, "norm2": 2, "norm4": 4, "loss": 2, "grad_norm2": 2, "noise_trace": 0}   # built-in tests' p


def rounding_bound(dtype: str, small_steps: int, degree: int, value: float) -> float:
    """r = c·p·K·u·|E g|: the bound on how far rounding in ``dtype`` can move the mean of a test function
    of degree p = ``degree`` with mean ``value`` after K = ``small_steps`` small steps."""
    return OPS_PER_STEP * degree * small_steps * UNIT_ROUNDOFF[dtype] * abs(value)


def crossing_level(dtype: str, small_steps_at_one: int, degree: int, value: float, constant: float) -> float:
    """l* where r(l) = c·p·K₁·l·u·|E g| meets a discretization error e(l) = C/l: l* = √(C / (c·p·K₁·u·|E g|))."""
    return math.sqrt(constant / rounding_bound(dtype, small_steps_at_one, degree, value))


def rounding_warnings(dtype: str, test: str, rows, steps: int) -> list[str]:
    """A warning for each row of a float32 study whose rounding bound r(l) is above its standard error.

    The row's standard error is the precision the study states for e(l); a bound above it means
    float32 may move the estimate by more than the study resolves.  Built-in tests only (a user
    test's degree is unknown); none in float64.  ``steps``: effective steps, l small steps each.
    """
    base = test.split("[")[0]
    if dtype == "float64" or base not in DEGREE or DEGREE[base] == 0:
        return []
    out = []
    for row in rows:
        if not (math.isfinite(row.estimate) and math.isfinite(row.stderr)):
            continue
        small = steps * row.l   # the adaptive methods, whose level l takes l² steps, run in float64 only
        bound = rounding_bound(dtype, small, DEGREE[base], row.estimate)
        if bound > row.stderr:
            out.append(f"{test}, l = {row.l}: float32 rounding can move the estimate by up to {bound:.2g} "
                       f"(c·p·K·u·|E g| with K = {small} small steps, docs/guide/float32.md), more than its standard "
                       f"error {row.stderr:.2g}: this error may be rounding rather than discretization; use "
                       "dtype float64 (--dtype float64)")
    return out
