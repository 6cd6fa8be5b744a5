"""A nonlinear SDE with a closed-form solution, in its own terms, with its own exact reference.

    dX = −a² sin X cos³X dt + a cos²X dW,   X₀ = x₀,   solved by   X_t = arctan(a W_t + tan x₀).

Since X_t = arctan(a√t Z + tan x₀) with Z ~ N(0, 1), every E g(X_t) is a one-dimensional Gaussian
integral, computed by Gauss–Hermite quadrature to rounding.

    sdesim converge --problem arctan_sde:make_problem --dt 0.25 --time 1 --test x,norm2,arctan_sde:sin_x \\
        --reference arctan_sde:exact
"""

import numba
import numpy as np

from sdesim.problems import sde

A = 1.0      # the diffusion scale a
X0 = 0.5


@numba.njit
def drift(x, data, out):
    c = np.cos(x[0])
    out[0] = -data[0] ** 2 * np.sin(x[0]) * c * c * c


@numba.njit
def diffusion(x, data, out):
    c = np.cos(x[0])
    out[0, 0] = data[0] * c * c


@numba.njit
def sin_x(x):
    """A test function of your own: sin x."""
    return np.sin(x[0])


def make_problem():
    """The SDE above, started at X0."""
    return sde("arctan_sde", 1, drift=drift, diffusion=diffusion, x0=[X0], data=(A,))


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
