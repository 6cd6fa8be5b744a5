"""A user-defined problem, as a user would write it in their own module: L_γ(x) = ¼|x|⁴ + σ zᵀx."""

import numba
import numpy as np

from sdesim import rng


@numba.njit
def sample_grad(x, data, state, pstate, out):
    sigma = data[0]
    r2 = np.sum(x * x)
    for k in range(x.shape[0]):
        out[k] = r2 * x[k] + sigma * rng.normal(state)


@numba.njit
def mean_grad(x, data, out):
    r2 = np.sum(x * x)
    for k in range(x.shape[0]):
        out[k] = r2 * x[k]


@numba.njit
def noise_factor(x, data, out):
    out[:, :] = 0.0
    for k in range(x.shape[0]):
        out[k, k] = data[0]


@numba.njit
def loss(x, data):
    r2 = np.sum(x * x)
    return 0.25 * r2 * r2


@numba.njit
def no_state(data, state, pstate):
    return None
