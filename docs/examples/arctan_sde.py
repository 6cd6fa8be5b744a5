"""A nonlinear SDE with a closed-form solution, as an sdesim problem with its own exact reference.

    dX = −a² sin X cos³X dt + a cos²X dW,   X₀ = x₀,   solved by   X_t = arctan(a W_t + tan x₀).

In the form of eq. (2), dX = −∇L(X) dt + (ηΣ(X))^{1/2} dW, this is the loss
L(x) = −(a²/4) cos⁴x with gradient noise of variance Σ(x) = a² cos⁴x / η: a stochastic
gradient ∇L(x) + √Σ(x) ξ with ξ = ±1 (Rademacher, so SVAG's noise is not Gaussian).  Since
X_t = arctan(a√t Z + tan x₀) with Z ~ N(0, 1), every E g(X_t) is a one-dimensional Gaussian
integral, computed by Gauss–Hermite quadrature to rounding.

    sdesim converge --problem arctan_sde:make_problem --test x,norm2,arctan_sde:sin_x \\
        --reference arctan_sde:exact --lr 0.25 --time 1
"""

import numba
import numpy as np

import sdesim.rng
from sdesim.problems import custom

A = 1.0      # the diffusion scale a
LR = 0.25    # the learning rate η the problem is written for (Σ carries 1/η)
X0 = 0.5


@numba.njit
def mean_grad(x, data, out):
    c = np.cos(x[0])
    out[0] = data[0] ** 2 * np.sin(x[0]) * c * c * c


@numba.njit
def noise_factor(x, data, out):
    c = np.cos(x[0])
    out[0, 0] = data[0] * c * c / np.sqrt(data[1])


@numba.njit
def sample_grad(x, data, rng, pstate, out):
    c = np.cos(x[0])
    out[0] = data[0] ** 2 * np.sin(x[0]) * c * c * c + sdesim.rng.rademacher(rng) * data[0] * c * c / np.sqrt(data[1])


@numba.njit
def loss(x, data):
    c = np.cos(x[0])
    return -0.25 * data[0] ** 2 * c * c * c * c


@numba.njit
def sin_x(x):
    """A test function of your own: sin x."""
    return np.sin(x[0])


def make_problem():
    """The SDE above as an sdesim problem, for η = LR (declared: another --lr warns), started at X0."""
    return custom("arctan_sde", 1, sample_grad=sample_grad, mean_grad=mean_grad, noise_factor=noise_factor,
                  loss=loss, data=(A, LR), noise_rank=1, x0=[X0], lr=LR)


GAUSS_HERMITE = np.polynomial.hermite.hermgauss(120)   # ∫ e^{−u²} f(u) du ≈ Σ wᵢ f(uᵢ)
FUNCTIONS = {"x": lambda x: x, "norm2": lambda x: x * x, "sin_x": np.sin}


def exact(name, times):
    """E g(X_t) at the given times for the test functions x, norm2 and sin_x; None for any other."""
    if name not in FUNCTIONS:
        return None
    nodes, weights = GAUSS_HERMITE
    z = np.sqrt(2.0) * nodes                                   # Z = √2 u ~ N(0, 1)
    g = FUNCTIONS[name]
    return np.array([weights @ g(np.arctan(A * np.sqrt(t) * z + np.tan(X0))) / np.sqrt(np.pi) for t in times])
