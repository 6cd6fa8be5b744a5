"""Test functions g for weak errors: the engine's observables plus a few that see higher moments.

The engine's built-in observables (``x``, ``norm2``, ``loss``, ``grad_norm2``,
``noise_trace``) are quadratic in x on the linear-quadratic problems, so they see
only the first two moments.  ``norm4`` = |x|⁴ sees the fourth, which is where
non-Gaussian noise shows (eq. (4)).  ``second_moments`` (the entries x_i x_j, i ≤ j)
serves as a control variate.
"""

from __future__ import annotations

import numpy as np

from sdesim._jit import jit
from sdesim.simulate import BUILTIN_OBSERVABLES


@jit
def norm4(x):
    """|x|⁴."""
    r2 = np.sum(x * x)
    return r2 * r2


@jit
def second_moments(x):
    """The entries x_i x_j for i ≤ j, row by row."""
    d = x.shape[0]
    out = np.empty(d * (d + 1) // 2)
    k = 0
    for i in range(d):
        for j in range(i, d):
            out[k] = x[i] * x[j]
            k += 1
    return out


EXTRA_TESTS = {"norm4": norm4}
TESTS = (*BUILTIN_OBSERVABLES, *EXTRA_TESTS)


WORDS = {"x": "x", "norm2": "|x|²", "norm4": "|x|⁴", "loss": "L(x)", "grad_norm2": "|∇L(x)|²",
         "noise_trace": "Tr Σ(x)"}


def describe(name: str) -> str:
    """A test function in words: 'norm4' → '|x|⁴', your own 'g' → 'g(x)'; a component stays 'x[1]' (x₁ would read
    as the point at step 1, x₀ as the start point)."""
    base, _, index = name.partition("[")
    if base == "x" and index:
        return name
    if base in WORDS:
        return WORDS[base] + (f" component {index.rstrip(']')}" if index else "")
    return f"{base}(x)" + (f" component {index.rstrip(']')}" if index else "")


def check_tests(tests) -> tuple:
    """``tests`` as a tuple of built-in test function names; a ValueError lists the available ones."""
    tests = tuple(tests)
    if not tests:
        raise ValueError(f"name at least one test function; available: {', '.join(TESTS)}")
    for name in tests:
        if name not in TESTS:
            raise ValueError(f"unknown test function {name!r}; available: {', '.join(TESTS)}")
    return tests


def gaussian_norm4(mean: np.ndarray, cov: np.ndarray) -> float:
    """E|X|⁴ for X ~ N(m, C): (|m|² + tr C)² + 2 tr(C²) + 4 mᵀCm."""
    return float((mean @ mean + np.trace(cov)) ** 2 + 2 * np.sum(cov * cov) + 4 * mean @ cov @ mean)
