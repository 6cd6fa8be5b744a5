"""Geometric Brownian motion, dX = μX dt + σX dW, as an SDE in its own terms, with its exact moments

    E X_t = x₀ e^{μt},   E X_t² = x₀² e^{(2μ + σ²)t}.

Its drift and diffusion act on each coordinate alone, so they are declared elementwise (the diffusion
written as its diagonal): the kernels move 64 paths at once in SIMD lanes.

    sdesim converge --problem gbm_sde:make_problem --dt 0.25 --time 1 --test x,norm2 \\
        --reference gbm_sde:exact
"""

import numba
import numpy as np

from sdesim.problems import sde

MU, SIGMA, X0 = 0.5, 0.5, 1.0


@numba.njit
def drift(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[0] * x[j]


@numba.njit
def diffusion(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[1] * x[j]


def make_problem():
    return sde("gbm", 1, drift=drift, diffusion=diffusion, x0=[X0], data=(MU, SIGMA), elementwise=True)


def exact(name, times):
    """E X_t and E X_t² (tests x and norm2); None for any other test."""
    t = np.asarray(times, dtype=float)
    if name == "x":
        return X0 * np.exp(MU * t)
    if name == "norm2":
        return X0**2 * np.exp((2 * MU + SIGMA**2) * t)
    return None
