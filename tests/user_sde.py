"""An SDE in its own terms, as a user would write it in their own module: the mean-reverting
dX = (α − βX) dt + γX dW, whose mean E X_t = α/β + (x₀ − α/β)e^{−βt} is exact."""

import numba
import numpy as np

from sdesim.problems import sde

ALPHA, BETA, GAMMA, X0 = 1.0, 1.0, 0.4, 4.0


@numba.njit
def reverting_drift(x, data, out):
    out[0] = data[0] - data[1] * x[0]


@numba.njit
def reverting_diffusion(x, data, out):
    out[0, 0] = data[2] * x[0]


def reverting():
    """The problem, from a factory of no arguments (``--problem user_sde:reverting``)."""
    return sde("reverting", 1, drift=reverting_drift, diffusion=reverting_diffusion, x0=[X0],
               data=(ALPHA, BETA, GAMMA))


def reverting_mean(name, times):
    """E X_t for the test x; None for the others (they fall back to extrapolation)."""
    if name != "x":
        return None
    return ALPHA / BETA + (X0 - ALPHA / BETA) * np.exp(-BETA * np.asarray(times, dtype=float))
