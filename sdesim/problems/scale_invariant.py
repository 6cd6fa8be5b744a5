"""A scale-invariant problem for section 5: least squares on the direction u = x/|x|.

L_γ(x) = 1/(2B) Σ_{i∈γ} (a_iᵀu − b_i)², so L_γ(cx) = L_γ(x) for every c > 0.  With
h_i = a_i (a_iᵀu − b_i) and P = I − uuᵀ, the chain rule gives

    ∇L_γ(x) = P (1/B) Σ_{i∈γ} h_i / |x|,   ⟨∇L_γ(x), x⟩ = 0,

and Σ(x) = f · P C_h P / |x|² with C_h the per-example covariance of the h_i
(f as for linear regression).  Undefined at x = 0; used with weight decay
(eq. (6)–(7)), under which |x| settles to an equilibrium (eq. (11)–(12)).
"""

from __future__ import annotations

import numpy as np

from sdesim._jit import jit
from sdesim.problems import sampling
from sdesim.problems.base import ProblemFunctions
from sdesim.problems.datasets import synthetic_regression
from sdesim.problems.linear_regression import (
    batch_gradient, centred_example_gradients, finite_data_problem, full_gradient, half_mean_square, init_state,
)
from sdesim._checks import positive_int


@jit
def _direction(x):
    norm = np.sqrt(np.sum(x * x))
    return x / norm, norm


@jit
def _project_scaled(u, norm, v):
    """v ← P v / |x| in place."""
    s = np.sum(u * v)
    for k in range(v.shape[0]):
        v[k] = (v[k] - s * u[k]) / norm


@jit
def sample_grad(x, data, rng, pstate, out):
    """∇L_γ(x) = P (1/B) Σ_{i∈γ} a_i (a_iᵀu − b_i) / |x|."""
    a, b, scheme, batch_size = data[0], data[1], data[2], data[3]
    u, norm = _direction(x)
    sampling.draw_batch(scheme, a.shape[0], batch_size, rng, pstate)
    batch_gradient(a, b, u, pstate, batch_size, out)
    _project_scaled(u, norm, out)


@jit
def mean_grad(x, data, out):
    """∇L(x) = P (1/n) Σ_i a_i (a_iᵀu − b_i) / |x|."""
    u, norm = _direction(x)
    full_gradient(data[0], data[1], u, out)
    _project_scaled(u, norm, out)


@jit
def noise_factor(x, data, out):
    """D[:, i] = √(f/n) P (h_i − h̄) / |x|."""
    u, norm = _direction(x)
    centred_example_gradients(data[0], data[1], u, data[4], out)
    for i in range(out.shape[1]):
        _project_scaled(u, norm, out[:, i])


@jit
def loss(x, data):
    """L(x) = 1/(2n) Σ_i (a_iᵀu − b_i)²."""
    u, _ = _direction(x)
    return half_mean_square(data[0], data[1], u)


FUNCTIONS = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss, init_state)


def _third_moment(x, a, b, batch_size):
    norm = np.linalg.norm(x)
    u = x / norm
    h = a * (a @ u - b)[:, None]
    c = h - h.mean(axis=0)
    c = (c - np.outer(c @ u, u)) / norm
    return np.einsum("ni,nj,nk->ijk", c, c, c) / (len(b) * batch_size**2)


def scale_invariant(features=None, targets=None, *, dim: int = 3, n: int = 64, batch_size: int = 8,
                    sampling: str = "with_replacement", weight_decay: float = 0.1, data_seed: int = 0):
    """The scale-invariant problem; default x0 is the first unit vector (x = 0 is excluded)."""
    if (features is None) != (targets is None):
        raise ValueError("give both features and targets, or neither (for a synthetic data set)")
    if features is None:
        features, targets = synthetic_regression(positive_int("n", n), positive_int("dim", dim),
                                                 unit_target=True, seed=data_seed)
    features = np.asarray(features, dtype=float)
    x0 = np.zeros(features.shape[1] if features.ndim == 2 else 1)
    x0[0] = 1.0
    return finite_data_problem("scale_invariant", FUNCTIONS, features, targets, batch_size, sampling,
                               weight_decay, _third_moment, default_x0=x0, origin_excluded=True)
