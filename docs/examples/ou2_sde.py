"""A 2-d Ornstein–Uhlenbeck process with a non-symmetric drift, dX = −A X dt + S dW, in its own terms.

Its law is Gaussian with mean m(t) = e^{−At} x₀ and covariance C(t) = C∞ − e^{−At} C∞ e^{−Aᵀt},
where A C∞ + C∞ Aᵀ = S Sᵀ (a Lyapunov equation), so E X_t and E |X_t|² = |m(t)|² + tr C(t) are exact.

    sdesim converge --problem ou2_sde:make_problem --dt 0.25 --time 1 --test x,norm2 \\
        --reference ou2_sde:exact
"""

import numba
import numpy as np
import scipy.linalg

from sdesim.problems import sde

A = np.array([[1.0, 2.0], [-1.0, 0.5]])      # not symmetric: the mean spirals in
S = np.array([[0.6, 0.0], [0.3, 0.4]])
X0 = np.array([2.0, -1.0])


@numba.njit
def drift(x, data, out):
    a = data[0]
    for i in range(2):
        out[i] = -(a[i, 0] * x[0] + a[i, 1] * x[1])


@numba.njit
def diffusion(x, data, out):
    out[:, :] = data[1]


def make_problem():
    return sde("ou2", 2, drift=drift, diffusion=diffusion, x0=X0, data=(A, S))


C_INF = scipy.linalg.solve_continuous_lyapunov(A, S @ S.T)    # A C + C Aᵀ = S Sᵀ


def exact(name, times):
    """E X_t (test x, one column per component) and E |X_t|² (norm2); None for any other test."""
    flows = [scipy.linalg.expm(-A * t) for t in np.asarray(times, dtype=float)]
    means = np.array([f @ X0 for f in flows])
    if name == "x":
        return means
    if name == "norm2":
        return np.array([m @ m + np.trace(C_INF - f @ C_INF @ f.T) for m, f in zip(means, flows)])
    return None
