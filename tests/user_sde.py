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


# Geometric Brownian motion dX = μX dt + σX dW, coordinate by coordinate, written twice: with elementwise
# functions (σ as its diagonal) and as today's matrix diffusion; the two give the same numbers bit for bit.
MU, SIGMA = -0.5, 0.4


@numba.njit
def gbm_drift(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[0] * x[j]


@numba.njit
def gbm_diagonal(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[1] * x[j]


@numba.njit
def gbm_diffusion(x, data, out):
    for j in range(x.shape[0]):
        for k in range(x.shape[0]):
            out[j, k] = 0.0
        out[j, j] = data[1] * x[j]


def gbm(x0=(1.0,), elementwise=True):
    """The GBM on R^len(x0), with elementwise functions or (``elementwise=False``) the matrix diffusion."""
    return sde("gbm", len(x0), drift=gbm_drift, diffusion=gbm_diagonal if elementwise else gbm_diffusion,
               x0=list(x0), data=(MU, SIGMA), elementwise=elementwise)
