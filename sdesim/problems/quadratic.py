"""The quadratic problem: L_γ(x) = ½ (x−x*)ᵀ A (x−x*) + ξ_γᵀ x, Cov ξ_γ = S / B.

∇L_γ(x) = A(x − x*) + ξ_γ, so Σ(x) = S/B is constant and the SDE (2) is an
Ornstein–Uhlenbeck process with a closed-form solution (``problem.exact_sde``).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from sdesim._checks import choice, finite_array, positive_float, positive_int, psd_sqrt, symmetric
from sdesim._jit import jit
from sdesim.problems.base import LinearQuadraticForm, Problem, ProblemFunctions
from sdesim.problems.noise import NOISE_LAWS, batch_mean_draw, third_moment_tensor
from sdesim.problems.ou import OrnsteinUhlenbeck

# data = (A, x_star, F, D, law, batch_size) with F Fᵀ = S and D = F / √B; A exactly symmetric


@jit
def mean_grad(x, data, out):
    """∇L(x) = A(x − x*)."""
    a, x_star = data[0], data[1]
    d = x.shape[0]
    # out_i = Σ_j A_ij (x_j − x*_j) with the terms added in the order of j, as in a loop
    # over rows, but column by column: A is exactly symmetric (quadratic() symmetrizes
    # it), so column j is row j, read contiguously, and the inner loop runs over d
    # independent sums instead of one chain of additions.
    diff = x[0] - x_star[0]
    for i in range(d):
        out[i] = 0.0 + a[0, i] * diff
    for j in range(1, d):
        diff = x[j] - x_star[j]
        for i in range(d):
            out[i] += a[j, i] * diff


@jit
def sample_grad(x, data, rng, pstate, out):
    """∇L_γ(x) = A(x − x*) + F ε̄."""
    mean_grad(x, data, out)
    # add_batch_noise(F, law, B, rng, out) written out, F read from data where it is used:
    # F held in a variable across the draws would cost atomic reference counts at every step
    for k in range(data[2].shape[1]):
        e = batch_mean_draw(data[4], data[5], rng)
        for j in range(x.shape[0]):
            out[j] += data[2][j, k] * e


@jit
def noise_factor(x, data, out):
    """D = F/√B, constant."""
    factor = data[3]
    for i in range(out.shape[0]):  # a loop, not a slice assignment: it runs inside the kernels
        for k in range(out.shape[1]):
            out[i, k] = factor[i, k]


@jit
def loss(x, data):
    """L(x) = ½ (x−x*)ᵀ A (x−x*)."""
    a, x_star = data[0], data[1]
    d = x.shape[0]
    total = 0.0
    for i in range(d):
        for j in range(d):
            total += (x[i] - x_star[i]) * a[i, j] * (x[j] - x_star[j])
    return 0.5 * total


@jit
def lanes_mean_grad(xs, data, out):
    """∇L at every column of xs (d × lanes): mean_grad's sums, term by term, over all lanes at once."""
    a, x_star = data[0], data[1]
    d, n = xs.shape[0], xs.shape[1]
    for i in range(d):
        for lane in range(n):
            out[i, lane] = 0.0 + a[0, i] * (xs[0, lane] - x_star[0])
    for j in range(1, d):
        for i in range(d):
            for lane in range(n):
                out[i, lane] += a[j, i] * (xs[j, lane] - x_star[j])


FUNCTIONS = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss, lanes_mean_grad=lanes_mean_grad)


# The same functions for a diagonal A and a diagonal F (exact zeros off the diagonal), bit for bit:
# each dense sum starts from 0.0 and is never −0.0, so its off-diagonal terms (±0.0) change nothing.


@jit
def diagonal_mean_grad(x, data, out):
    """∇L(x) = A(x − x*) for a diagonal A: out_i = A_ii (x_i − x*_i)."""
    a, x_star = data[0], data[1]
    for i in range(x.shape[0]):
        out[i] = 0.0 + a[i, i] * (x[i] - x_star[i])


@jit
def diagonal_sample_grad(x, data, rng, pstate, out):
    """∇L_γ(x) = A(x − x*) + F ε̄ for diagonal A and F (the draws in the order of the dense one)."""
    diagonal_mean_grad(x, data, out)
    for k in range(x.shape[0]):
        e = batch_mean_draw(data[4], data[5], rng)
        out[k] += data[2][k, k] * e


@jit
def diagonal_loss(x, data):
    """L(x) = ½ Σ_i A_ii (x_i − x*_i)² for a diagonal A."""
    a, x_star = data[0], data[1]
    total = 0.0
    for i in range(x.shape[0]):
        total += (x[i] - x_star[i]) * a[i, i] * (x[i] - x_star[i])
    return 0.5 * total


@jit
def diagonal_lanes_mean_grad(xs, data, out):
    """∇L at every column of xs (d × lanes) for a diagonal A: out_il = A_ii (x_il − x*_i)."""
    a, x_star = data[0], data[1]
    for i in range(xs.shape[0]):
        for lane in range(xs.shape[1]):
            out[i, lane] = 0.0 + a[i, i] * (xs[i, lane] - x_star[i])


DIAGONAL_FUNCTIONS = ProblemFunctions(diagonal_sample_grad, diagonal_mean_grad, noise_factor, diagonal_loss,
                                      lanes_mean_grad=diagonal_lanes_mean_grad)


def is_diagonal(matrix: np.ndarray) -> bool:
    """Whether a square matrix has exact zeros off its diagonal."""
    return not np.any(matrix[~np.eye(matrix.shape[0], dtype=bool)])


def quadratic(dim: int = 2, *, hessian=None, minimizer=None, noise_cov=None, noise: str = "gaussian",
              batch_size: int = 1, weight_decay: float = 0.0) -> Problem:
    """The quadratic problem in ``dim`` dimensions.

    Defaults: A = diag(linspace(1, 2, d)), x* = (1, …, 1), S = I; ``noise`` is one of
    gaussian, rademacher, exponential (see `sdesim.problems.noise`).
    """
    dim = positive_int("dim", dim)
    batch_size = positive_int("batch_size", batch_size)
    weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
    choice("noise law", noise, NOISE_LAWS)
    a = np.diag(np.linspace(1.0, 2.0, dim)) if hessian is None else finite_array("hessian", hessian, shape=(dim, dim))
    a = symmetric("hessian", a)
    x_star = np.ones(dim) if minimizer is None else finite_array("minimizer", minimizer, shape=(dim,))
    s = np.eye(dim) if noise_cov is None else finite_array("noise_cov", noise_cov, shape=(dim, dim))
    f = psd_sqrt("noise_cov", s)
    s = symmetric("noise_cov", s)
    d = np.ascontiguousarray(f / np.sqrt(batch_size))
    data = (a, x_star, f, d, NOISE_LAWS.index(noise), batch_size)
    # declared structure (d > 1; in one dimension there is none): diagonal A and F take the diagonal
    # functions, a diagonal D the kernel's diagonal noise product; the numbers are the dense ones bit for bit
    diagonal_noise = dim > 1 and is_diagonal(f)          # D = F/√B has F's zeros
    diagonal = diagonal_noise and is_diagonal(a)
    m = a + weight_decay * np.eye(dim)
    sde = OrnsteinUhlenbeck(m, a @ x_star, s / batch_size, a, x_star)
    params = dict(dim=dim, hessian=a, minimizer=x_star, noise_cov=s, noise=noise,
                  batch_size=batch_size, weight_decay=weight_decay)
    return Problem(
        name="quadratic", dim=dim, data=data, functions=DIAGONAL_FUNCTIONS if diagonal else FUNCTIONS,
        params=params, noise_rank=dim, weight_decay=weight_decay, constant_noise=True, exact_sde=sde,
        diagonal_noise=diagonal_noise,
        third_moment=lambda x: third_moment_tensor(f, noise, batch_size),
        linear_quadratic_builder=partial(
            LinearQuadraticForm, hessian=a, offset=a @ x_star, constant=0.5 * x_star @ a @ x_star,
            sigma0=s / batch_size, rows=np.zeros((0, dim, dim)), cols=np.zeros((0, dim)), scale=0.0),
    )
