"""A user SDE for bench_engine.py, defined in an importable module so that its kernels are cached on disk:
geometric Brownian motion dX = μX dt + σX dW (d = 1), written with elementwise functions
(``sde(..., elementwise=True)``: its 16 SIMD lanes move together) and as a matrix diffusion without it
(the lanes move one by one).  The exact mean of the Euler recursion is x₀ Π(1 + μh)."""

import numba
import numpy as np

from sdesim.problems import sde

MU, SIGMA, X0 = -0.01, 0.1, 1.0   # E X_t = e^{-0.01 t}: order 1 over the longest timing (t = 200)


@numba.njit
def drift(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[0] * x[j]


@numba.njit
def diagonal(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[1] * x[j]


@numba.njit
def diffusion(x, data, out):
    out[0, 0] = data[1] * x[0]


def gbm(elementwise: bool):
    return sde("gbm", 1, drift=drift, diffusion=diagonal if elementwise else diffusion, x0=[X0], data=(MU, SIGMA),
               elementwise=elementwise)


def euler_mean(hs) -> float:
    """E x_n of the Euler recursion x ← x + μx h + σx √h z over the steps hs."""
    return X0 * float(np.prod(1.0 + MU * np.asarray(hs)))
