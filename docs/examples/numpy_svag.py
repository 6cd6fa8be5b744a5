"""SGD and SVAG in plain numpy, written without sdesim: the "outside" code of docs/guide/testing.md.

The loss is L_γ(x) = ½ (x − x*)ᵀ A (x − x*) + ξ_γᵀ x with skewed gradient noise ξ = F ε,
ε_i = Exp(1) − 1 independent, F Fᵀ = S, and weight decay λ.  SVAG(l) (Li, Malladi & Arora 2021,
eq. 5) takes l small steps of size η/l per effective step, each with the gradient
c₁ g₁ + c₂ g₂ of two independent batches, c₁,₂ = (1 ± √(2l − 1))/2; l = 1 is SGD.

Every row of x is one path, every path draws its own noise from ``rng``.
"""

import numpy as np


class NumpySVAG:
    """SVAG(l) on the quadratic above: ``step`` is one small step, ``run`` whole effective steps."""

    def __init__(self, hessian, minimizer, noise_cov, *, lr, l=1, weight_decay=0.0, root="symmetric"):
        self.a = np.asarray(hessian, dtype=float)
        self.x_star = np.asarray(minimizer, dtype=float)
        s = np.asarray(noise_cov, dtype=float)
        if root == "symmetric":                      # F = S^{1/2}, symmetric
            values, vectors = np.linalg.eigh(s)
            self.f = (vectors * np.sqrt(values)) @ vectors.T
        else:                                        # F lower triangular: just as good a root of S
            self.f = np.linalg.cholesky(s)
        self.lr, self.l, self.weight_decay = lr, l, weight_decay

    def weights(self):
        """c₁, c₂ with c₁ + c₂ = 1 and c₁² + c₂² = l."""
        root = np.sqrt(2 * self.l - 1)
        return (1 + root) / 2, (1 - root) / 2

    def gradient(self, x, rng):
        """One stochastic gradient per row: A(x − x*) + F ε."""
        eps = rng.exponential(size=x.shape) - 1.0
        return (x - self.x_star) @ self.a.T + eps @ self.f.T

    def step(self, x, rng):
        """One small step: x − (η/l)(c₁ g₁ + c₂ g₂ + λx), g₁ and g₂ from independent batches."""
        c1, c2 = self.weights()
        g1 = self.gradient(x, rng)
        g2 = self.gradient(x, rng)
        return x - (self.lr / self.l) * (c1 * g1 + c2 * g2 + self.weight_decay * x)

    def run(self, x0, effective_steps, paths, rng):
        """The paths at every effective step k = 1 … K (time t = kη): an array (K, paths, d)."""
        x = np.tile(np.asarray(x0, dtype=float), (paths, 1))
        out = np.empty((effective_steps, paths, x.shape[1]))
        for k in range(effective_steps):
            for _ in range(self.l):
                x = self.step(x, rng)
            out[k] = x
        return out
