"""Equilibrium averages R = E|x|², G = E|∇L(x)|², N = E Tr Σ(x) of one run, with their covariance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdesim.kernels.stats import BlockStats
from sdesim.simulate import Run

OBSERVABLES = ("norm2", "grad_norm2", "noise_trace")


@dataclass(frozen=True)
class Equilibrium:
    """Means (R, G, N) at the last checkpoint and the covariance of their estimates (3×3)."""

    R: float
    G: float
    N: float
    cov: np.ndarray

    @property
    def stderr(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def values(self) -> np.ndarray:
        return np.array([self.R, self.G, self.N])

    def combination(self, weights) -> tuple[float, float]:
        """wᵀ(R, G, N) and its standard error."""
        w = np.asarray(weights, float)
        return float(w @ self.values), float(math.sqrt(max(w @ self.cov @ w, 0.0)))


def equilibrium(problem, method: str, *, lr: float, l: int = 1, steps: int, paths: int, seed: int,
                x0=None, dtype: str = "float64") -> Equilibrium:
    """Run ``paths`` paths (held in ``dtype``) for ``steps`` effective steps and average R, G, N at the end."""
    run = Run(problem, method, lr=lr, l=l, steps=steps, seed=seed, x0=x0, observables=list(OBSERVABLES),
              covariance=True, dtype=dtype)
    stats = BlockStats.concatenate([run.blocks(offset, n) for offset, n in run.chunks(paths)])
    if stats.diverged:
        raise FloatingPointError(f"{stats.diverged} paths of {method} at lr={lr} blew up")
    counts, mean, _ = stats.summary()
    cov = stats.covariance()[-1] / counts[-1]
    return Equilibrium(float(mean[-1, 0]), float(mean[-1, 1]), float(mean[-1, 2]), cov)


def extrapolate(coarse: Equilibrium, fine: Equilibrium) -> Equilibrium:
    """Richardson in the step: 2·fine − coarse removes the O(h) bias of a weak order-1 scheme (h_fine = h/2)."""
    values = 2 * fine.values - coarse.values
    return Equilibrium(*values, 4 * fine.cov + coarse.cov)
