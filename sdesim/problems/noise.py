"""Noise laws for additive gradient noise ξ = F ε̄, ε̄ the mean of B i.i.d. standardized draws.

Each law has mean 0 and variance 1 per component, so Cov ξ = F Fᵀ / B.  They
differ in higher moments, which is what separates SGD from noisy GD (eq. (4)):

- ``gaussian``: N(0, 1); third moment 0, fourth 3.
- ``rademacher``: ±1 with probability ½; symmetric, not Gaussian: third 0, fourth 1.
- ``exponential``: Exp(1) − 1, skewed: third moment 2, fourth 9.
"""

import numpy as np

from sdesim import rng as _rng
from sdesim._jit import jit

NOISE_LAWS = ("gaussian", "rademacher", "exponential")
THIRD_MOMENT = {"gaussian": 0.0, "rademacher": 0.0, "exponential": 2.0}
FOURTH_MOMENT = {"gaussian": 3.0, "rademacher": 1.0, "exponential": 9.0}


@jit
def standardized_draw(law, state):
    """One draw with mean 0 and variance 1 from law 0 (gaussian), 1 (rademacher), 2 (exponential)."""
    if law == 0:
        return _rng.normal(state)
    if law == 1:
        return _rng.rademacher(state)
    return _rng.exponential(state) - 1.0


@jit
def batch_mean_draw(law, batch_size, state):
    """One component of ε̄: the mean of ``batch_size`` i.i.d. standardized draws."""
    e = 0.0
    for _ in range(batch_size):
        e += standardized_draw(law, state)
    inv_b = 1.0 / batch_size
    e *= inv_b
    return e


@jit
def add_batch_noise(factor, law, batch_size, state, out):
    """out += F ε̄, with ε̄ the mean of ``batch_size`` i.i.d. standardized vectors.

    In the kernels, prefer the loop written out with F read from the problem's data where
    it is used (as quadratic's ``sample_grad`` does): an array held in a variable across
    the random draws costs two atomic reference-count updates at every step.
    """
    d, m = factor.shape
    for k in range(m):
        e = batch_mean_draw(law, batch_size, state)
        for j in range(d):
            out[j] += factor[j, k] * e


def third_moment_tensor(factor: np.ndarray, law: str, batch_size: int) -> np.ndarray:
    """Λ = E ξ^{⊗3} = (κ₃ / B²) Σ_k f_k^{⊗3} for ξ = F ε̄ (f_k the columns of F)."""
    kappa3 = THIRD_MOMENT[law]
    return kappa3 / batch_size**2 * np.einsum("ik,jk,lk->ijl", factor, factor, factor)
