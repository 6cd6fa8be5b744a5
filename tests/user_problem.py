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
def lanes_mean_grad(xs, data, out):
    """mean_grad of every column of xs (d × lanes): the same sum |x|², term by term, for all lanes at once."""
    d, n = xs.shape
    for lane in range(n):
        out[0, lane] = 0.0
    for k in range(d):
        for lane in range(n):
            out[0, lane] += xs[k, lane] * xs[k, lane]
    for k in range(d - 1, -1, -1):   # row 0 holds |x|² until it is written last
        for lane in range(n):
            out[k, lane] = out[0, lane] * xs[k, lane]


@numba.njit
def off_by_rounding(xs, data, out):
    """lanes_mean_grad with |x|² summed in the other order: right up to rounding, not bit for bit."""
    d, n = xs.shape
    for lane in range(n):
        r2 = 0.0
        for k in range(d - 1, -1, -1):
            r2 += xs[k, lane] * xs[k, lane]
        for k in range(d):
            out[k, lane] = r2 * xs[k, lane]


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


# L(x) = Σ_j x_j⁴/4 with diagonal noise D_jj(x) = s √(1 + x_j²): ∇L and D's diagonal are elementwise, written
# for ``custom(..., elementwise=True)`` and, for comparison, with D as a d × d matrix.
@numba.njit
def quartic_sample_grad(x, data, state, pstate, out):
    for j in range(x.shape[0]):
        out[j] = x[j] * x[j] * x[j] + data[0] * np.sqrt(1.0 + x[j] * x[j]) * rng.normal(state)


@numba.njit
def quartic_mean_grad(x, data, out):
    for j in range(x.shape[0]):
        out[j] = x[j] * x[j] * x[j]


@numba.njit
def quartic_noise_diagonal(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[0] * np.sqrt(1.0 + x[j] * x[j])


@numba.njit
def quartic_noise_factor(x, data, out):
    for j in range(x.shape[0]):
        for k in range(x.shape[0]):
            out[j, k] = 0.0
        out[j, j] = data[0] * np.sqrt(1.0 + x[j] * x[j])


@numba.njit
def quartic_loss(x, data):
    total = 0.0
    for j in range(x.shape[0]):
        total += 0.25 * x[j] ** 4
    return total
