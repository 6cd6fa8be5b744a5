"""Least squares on a finite data set: L_γ(x) = 1/(2B) Σ_{i∈γ} (a_iᵀx − b_i)².

With per-example gradients g_i(x) = a_i (a_iᵀx − b_i) and their mean ḡ = ∇L(x),
Σ(x) = f · (1/n) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ with f = 1/B for i.i.d. batches drawn
with replacement and f = (n−B)/(B(n−1)) without replacement: multiplicative
noise, quadratic in x.  The factor D has the n columns √(f/n) (g_i − ḡ).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from sdesim._checks import check_memory, choice, positive_float, positive_int
from sdesim._jit import jit
from sdesim.problems import sampling
from sdesim.problems.base import LinearQuadraticForm, Problem, ProblemFunctions
from sdesim.problems.datasets import check_regression_data, synthetic_regression

# data = (a, b, sampling, batch_size, √(f/n))


@jit
def residual(a, b, i, v):
    """a_iᵀv − b_i."""
    r = -b[i]
    for k in range(a.shape[1]):
        r += a[i, k] * v[k]
    return r


@jit
def add_scaled_row(a, i, r, out):
    """out += r · a_i, without a temporary array."""
    for k in range(a.shape[1]):
        out[k] += r * a[i, k]


@jit
def batch_gradient(a, b, v, pstate, batch_size, out):
    """out = (1/B) Σ_{i∈γ} a_i (a_iᵀv − b_i) over the batch indices stored in pstate."""
    n = a.shape[0]
    for k in range(out.shape[0]):  # loops, not array expressions: these run inside the kernels
        out[k] = 0.0
    for j in range(batch_size):
        i = pstate[1 + n + j]
        add_scaled_row(a, i, residual(a, b, i, v), out)
    scale = 1.0 / batch_size
    for k in range(out.shape[0]):
        out[k] *= scale


@jit
def full_gradient(a, b, v, out):
    """out = (1/n) Σ_i a_i (a_iᵀv − b_i)."""
    n = a.shape[0]
    for k in range(out.shape[0]):
        out[k] = 0.0
    for i in range(n):
        add_scaled_row(a, i, residual(a, b, i, v), out)
    scale = 1.0 / n
    for k in range(out.shape[0]):
        out[k] *= scale


@jit
def centred_example_gradients(a, b, v, scale, out):
    """out[:, i] = scale · (g_i − ḡ), g_i = a_i (a_iᵀv − b_i)."""
    n, d = a.shape
    for i in range(n):
        r = residual(a, b, i, v)
        for k in range(d):
            out[k, i] = r * a[i, k]
    for k in range(d):  # ḡ_k summed in the order of i, without a temporary array
        total = 0.0
        for i in range(n):
            total += out[k, i]
        mean = total / n
        for i in range(n):
            out[k, i] = scale * (out[k, i] - mean)


@jit
def half_mean_square(a, b, v):
    """1/(2n) Σ_i (a_iᵀv − b_i)²."""
    n = a.shape[0]
    total = 0.0
    for i in range(n):
        r = residual(a, b, i, v)
        total += r * r
    return 0.5 * total / n


@jit
def init_state(data, rng, pstate):
    sampling.init_sampler(data[0].shape[0], pstate)


@jit
def sample_grad(x, data, rng, pstate, out):
    """∇L_γ(x) = (1/B) Σ_{i∈γ} a_i (a_iᵀx − b_i)."""
    a, b, scheme, batch_size = data[0], data[1], data[2], data[3]
    sampling.draw_batch(scheme, a.shape[0], batch_size, rng, pstate)
    batch_gradient(a, b, x, pstate, batch_size, out)


@jit
def mean_grad(x, data, out):
    """∇L(x) = (1/n) Σ_i a_i (a_iᵀx − b_i)."""
    full_gradient(data[0], data[1], x, out)


@jit
def noise_factor(x, data, out):
    """D[:, i] = √(f/n) (g_i − ḡ)."""
    centred_example_gradients(data[0], data[1], x, data[4], out)


@jit
def loss(x, data):
    """L(x) = 1/(2n) Σ_i (a_iᵀx − b_i)²."""
    return half_mean_square(data[0], data[1], x)


FUNCTIONS = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss, init_state)


def least_squares_form(a, b, covariance_factor) -> LinearQuadraticForm:
    """H = AᵀA/n, v = Aᵀb/n, c₀ = |b|²/(2n); D_i = a_i a_iᵀ − H, e_i = a_i b_i − v, s = f/n.

    D holds n×d×d numbers; raises before allocating them if they would not fit in memory.
    """
    n, d = a.shape
    check_memory(8 * (n * d * d + n * d + 2 * d * d),
                 f"the linear-quadratic form of least squares on n = {n} examples in d = {d} dimensions "
                 f"(its n×d×d = {n * d * d:.3g} numbers D_i = a_i a_iᵀ − H)",
                 "Only exact moments (exact=True, --exact), control variates (turn them off with "
                 "control_variates=False, --no-control-variates) and sdesim.torch's SDE need it; "
                 "simulations never build it")
    h, v = a.T @ a / n, a.T @ b / n
    rows = np.einsum("ni,nj->nij", a, a)
    rows -= h    # in place: one n×d×d array at a time
    return LinearQuadraticForm(
        hessian=h, offset=v, constant=float(b @ b / (2 * n)), sigma0=np.zeros((d, d)),
        rows=rows, cols=a * b[:, None] - v, scale=covariance_factor / n)


def finite_data_problem(name, functions, features, targets, batch_size, sampling_name, weight_decay,
                        third_moment, default_x0=None, origin_excluded=False, linear=False) -> Problem:
    """Assemble a problem over a finite data set with one of the minibatch samplings."""
    a, b = check_regression_data(features, targets)
    n, dim = a.shape
    batch_size = positive_int("batch_size", batch_size)
    choice("sampling", sampling_name, sampling.SAMPLINGS)
    if batch_size > n and sampling_name != "with_replacement":
        raise ValueError(f"batch_size {batch_size} exceeds the {n} examples; "
                         f"sampling {sampling_name!r} needs batch_size <= n")
    weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
    f = sampling.covariance_factor(sampling_name, n, batch_size)
    data = (a, b, sampling.SAMPLINGS.index(sampling_name), batch_size, float(np.sqrt(f / n)))
    params = dict(dim=dim, features=a, targets=b, batch_size=batch_size, sampling=sampling_name,
                  weight_decay=weight_decay)
    moment3 = None
    if sampling_name == "with_replacement":
        moment3 = lambda x: third_moment(x, a, b, batch_size)  # noqa: E731
    return Problem(
        name=name, dim=dim, data=data, functions=functions, params=params, noise_rank=n,
        weight_decay=weight_decay, state_size=sampling.state_size(n, batch_size),
        default_x0=default_x0, third_moment=moment3, origin_excluded=origin_excluded,
        # reshuffled epochs are not i.i.d. across steps: their moments do not close.  Built when first used:
        # the n×d×d form is needed only by exact moments and control variates
        linear_quadratic_builder=(partial(least_squares_form, a, b, f) if linear and sampling_name != "reshuffle"
                                  else None),
    )


def _third_moment(x, a, b, batch_size):
    """Λ(x) = E(∇L_γ − ∇L)^{⊗3} = (1/B²)(1/n) Σ_i (g_i − ḡ)^{⊗3} for batches with replacement."""
    g = a * (a @ x - b)[:, None]
    c = g - g.mean(axis=0)
    return np.einsum("ni,nj,nk->ijk", c, c, c) / (len(b) * batch_size**2)


def linear_regression(features=None, targets=None, *, dim: int = 2, n: int = 64, batch_size: int = 8,
                      sampling: str = "with_replacement", weight_decay: float = 0.0, data_seed: int = 0) -> Problem:
    """Least squares with minibatches of size B; without data, a synthetic set of n examples in ``dim``."""
    if (features is None) != (targets is None):
        raise ValueError("give both features and targets, or neither (for a synthetic data set)")
    if features is None:
        features, targets = synthetic_regression(positive_int("n", n), positive_int("dim", dim), seed=data_seed)
    return finite_data_problem("linear_regression", FUNCTIONS, features, targets, batch_size, sampling,
                               weight_decay, _third_moment, linear=True)
