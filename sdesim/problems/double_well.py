"""A non-convex problem: the double well L(x) = h (x₁² − 1)² + ½ Σ_{j≥2} x_j², in 1 or 2 dimensions.

Minima at x₁ = ±1 separated by a barrier of height h at x₁ = 0.  The stochastic
gradient adds noise as in the quadratic problem: ∇L_γ(x) = ∇L(x) + ξ_γ with
Cov ξ_γ = σ² I / B and a choice of noise law.  The drift is cubic, so a large
step can make a path blow up; the engine counts such paths.
"""

from __future__ import annotations

import numpy as np

from sdesim._checks import choice, positive_float, positive_int
from sdesim._jit import jit
from sdesim.problems.base import Problem, ProblemFunctions
from sdesim.problems.noise import NOISE_LAWS, batch_mean_draw, third_moment_tensor

# data = (barrier (1-array), F, D, law, batch_size), F = σ I, D = F / √B


@jit
def mean_grad(x, data, out):
    """∇L(x) = (4h x₁ (x₁² − 1), x₂, …)."""
    h = data[0][0]
    out[0] = 4.0 * h * x[0] * (x[0] * x[0] - 1.0)
    for j in range(1, x.shape[0]):
        out[j] = x[j]


@jit
def sample_grad(x, data, rng, pstate, out):
    """∇L_γ(x) = ∇L(x) + F ε̄."""
    mean_grad(x, data, out)
    # add_batch_noise(F, law, B, rng, out) written out, F read from data where it is used:
    # F held in a variable across the draws would cost atomic reference counts at every step
    for k in range(data[1].shape[1]):
        e = batch_mean_draw(data[3], data[4], rng)
        for j in range(x.shape[0]):
            out[j] += data[1][j, k] * e


@jit
def noise_factor(x, data, out):
    factor = data[2]
    for i in range(out.shape[0]):  # a loop, not a slice assignment: it runs inside the kernels
        for k in range(out.shape[1]):
            out[i, k] = factor[i, k]


@jit
def loss(x, data):
    h = data[0][0]
    w = x[0] * x[0] - 1.0
    total = h * w * w
    for j in range(1, x.shape[0]):
        total += 0.5 * x[j] * x[j]
    return total


FUNCTIONS = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss)


def double_well(dim: int = 1, *, barrier: float = 0.25, noise_scale: float = 1.0, noise: str = "gaussian",
                batch_size: int = 1, weight_decay: float = 0.0) -> Problem:
    """The double well in ``dim`` = 1 or 2 dimensions with barrier height ``barrier``."""
    dim = positive_int("dim", dim)
    if dim not in (1, 2):
        raise ValueError(f"dim of the double well must be 1 or 2, got {dim}")
    barrier = positive_float("barrier", barrier)
    noise_scale = positive_float("noise_scale", noise_scale, allow_zero=True)
    batch_size = positive_int("batch_size", batch_size)
    weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
    choice("noise law", noise, NOISE_LAWS)
    f = noise_scale * np.eye(dim)
    data = (np.array([barrier]), f, np.ascontiguousarray(f / np.sqrt(batch_size)), NOISE_LAWS.index(noise), batch_size)
    params = dict(dim=dim, barrier=barrier, noise_scale=noise_scale, noise=noise,
                  batch_size=batch_size, weight_decay=weight_decay)
    return Problem(
        name="double_well", dim=dim, data=data, functions=FUNCTIONS, params=params,
        noise_rank=dim, weight_decay=weight_decay, constant_noise=True,
        third_moment=lambda x: third_moment_tensor(f, noise, batch_size),
    )
