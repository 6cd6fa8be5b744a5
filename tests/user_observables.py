"""Observables that misbehave, as a careless user would write them (quadratic(2) heads from x0 to (1, 1)):
one writes into x, one is NaN once x₀ > 0, one raises once x₁ > 0.  Used together, so that the suite
compiles one kernel for them (tests/test_bad_input.py)."""

import numba
import numpy as np


@numba.njit
def scribble(x):
    """x₀, after writing 0 into it."""
    value = x[0]
    x[0] = 0.0
    return value


@numba.njit
def first(x):
    return x[0]


@numba.njit
def log_of_minus_first(x):
    """log(−x₀): NaN once x₀ > 0."""
    return np.log(-x[0])


@numba.njit
def checked_second(x):
    if x[1] > 0.0:
        raise ValueError("x[1] must stay negative")
    return x[1]


ALL = {"scribble": scribble, "first": first, "log_of_minus_first": log_of_minus_first,
       "checked_second": checked_second}
