"""Exact first and second moments of the discrete linear recursions, to hold Monte Carlo against.

On the quadratic problem every method is an affine recursion x ← P x + q + noise with
Cov(noise) = Q, so m ← P m + q and C ← P C Pᵀ + Q exactly:
  SGD/SVAG (h = η/l):  P = I − hM, q = h A x*, Q = h² (c₁² + c₂²) S/B = h² l S/B
  NGD / Euler (h):     P = I − hM, q = h A x*, Q = h η S/B
(M = A + λI).  These are the moments of the discrete scheme, not of the SDE.
"""

import numpy as np


def quadratic_recursion(problem, method, lr, l, steps, x0, dt=None):
    """(mean, covariance) of x after ``steps`` effective steps of ``method``."""
    a, x_star = problem.data[0], problem.data[1]
    s = problem.exact_sde.noise_cov  # S / B
    m_mat = problem.exact_sde.drift_matrix
    d = problem.dim
    if method in ("sgd", "svag"):
        h = lr / l
        q_cov = h * h * l * s
    else:
        h = lr if method == "ngd" else (lr / l if dt is None else dt)
        q_cov = h * lr * s
    n_small = int(round(steps * lr / h))
    p = np.eye(d) - h * m_mat
    q = h * a @ x_star
    m, c = np.array(x0, dtype=float), np.zeros((d, d))
    for _ in range(n_small):
        m = p @ m + q
        c = p @ c @ p.T + q_cov
    return m, c
