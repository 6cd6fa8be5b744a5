"""The profile χ²(p) of e(l) = C₁ l^{−p} + … + C_K l^{−p−K+1} and its profile-likelihood interval for p.

For a fixed p the model is linear in the constants, so χ²(p) = min over C of rᵀV⁻¹r is exact
(generalized least squares, V the errors' covariance); p̂ minimizes it on a grid zoomed into,
and the interval is {p : χ²(p) − χ²(p̂) ≤ q}.  The constants are bounded,
|C_j/C₁| ≤ (2·l_min)^{j−1}, since C₁ = 0 would let the second term pose as a leading term of
order p + 1.  `sdesim.estimators.order` judges an order from these fits.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

P_RANGE = (-2.0, 6.0)     # where p is searched for
SECOND_TERM = 2.0         # |C_j/C₁| ≤ (2·l_min)^{j−1}: at the smallest l fitted, each term is at most twice the one before
GRID = np.linspace(*P_RANGE, 201)
ZOOM = 17                 # points per zoom


class Profile:
    """χ²(p) minimized over C₁ … C_K with |C_j| ≤ bound^{j−1}·|C₁|, for errors e with covariance V = L Lᵀ.

    Without the bound the model would not identify p: C₁ = 0 turns C₂ l^{−p−1} into a
    leading term of order p + 1.  The feasible set is two convex cones (C₁ ≥ 0, C₁ ≤ 0); the
    minimum over them is the least-squares solution with some of the bounds held as
    equalities, C_j = ±bound^{j−1}C₁, so every pattern of free, upper and lower terms is
    solved and the best feasible one kept.  Every method takes an array of p values at
    once.  l is scaled by its geometric mean l_ref.
    """

    def __init__(self, l, e, inverse_factor, terms=2, second_term=SECOND_TERM):
        self.l_ref = math.exp(np.mean(np.log(l)))
        self.log_u = np.log(l / self.l_ref)
        self.whiten = inverse_factor                      # L⁻¹
        self.y = inverse_factor @ e
        self.terms = terms
        self.bounds = (second_term * l[0] / self.l_ref) ** np.arange(terms)   # 1, bound, bound², in units of l_ref
        self.patterns = list(itertools.product((0.0, 1.0, -1.0), repeat=terms - 1))

    def __call__(self, p):
        """(χ², C) at each p: χ² of shape (len(p),), the constants (len(p), terms) in units of l_ref."""
        p = np.atleast_1d(np.asarray(p, float))
        basis = np.stack([np.exp(-(p[:, None] + j) * self.log_u) @ self.whiten.T for j in range(self.terms)],
                         axis=2)                                               # whitened u^{−p−j}, (len(p), n, K)
        gram = np.einsum("pni,pnj->pij", basis, basis)
        rhs = basis.transpose(0, 2, 1) @ self.y
        yy = self.y @ self.y
        chi2 = np.full(p.size, np.inf)
        best = np.full((p.size, self.terms), np.nan)
        for pattern in self.patterns:
            # C = M θ: θ₀ = C₁ with C_j = ±bound^{j−1}C₁ where the pattern holds a bound, the other C_j free
            free = [j for j in range(1, self.terms) if pattern[j - 1] == 0.0]
            m = np.zeros((self.terms, 1 + len(free)))
            m[:, 0] = np.r_[1.0, np.array(pattern) * self.bounds[1:]]
            for i, j in enumerate(free):
                m[j, i + 1] = 1.0
            theta, solved = solve_small(m.T @ gram @ m, rhs @ m)
            c = theta @ m.T
            with np.errstate(invalid="ignore"):
                value = yy - np.einsum("pi,pi->p", theta, rhs @ m)
                feasible = solved & np.all(np.abs(c) <= self.bounds * np.abs(c[:, :1]) * (1 + 1e-9), axis=1)
            better = feasible & np.isfinite(value) & (value < chi2)
            chi2 = np.where(better, value, chi2)
            best = np.where(better[:, None], c, best)
        return np.where(np.isfinite(chi2), np.maximum(chi2, 0.0), np.inf), best

    def constants(self, p):
        """(C₁, …, C_K) in units of l at p."""
        _, c = self(p)
        return tuple(float(c[0, j] * self.l_ref ** (p + j)) for j in range(self.terms))

    def minimum(self):
        """(p̂, χ²(p̂), χ² on the search grid): the grid's best point, zoomed into between its neighbours."""
        chi2 = self(GRID)[0]
        i = int(np.argmin(chi2))
        lo, hi = GRID[max(i - 1, 0)], GRID[min(i + 1, GRID.size - 1)]
        for _ in range(4):       # each zoom narrows the bracket 8-fold: 0.08 → 2e-5
            zoom = np.linspace(lo, hi, ZOOM)
            values = self(zoom)[0]
            j = int(np.argmin(values))
            lo, hi = zoom[max(j - 1, 0)], zoom[min(j + 1, ZOOM - 1)]
        return float(zoom[j]), float(values[j]), chi2

    def crossings(self, inside, outside, level):
        """For each pair (``inside``, ``outside``) with χ² ≤ level at the first and > level at the second,
        the p between them where χ² = level (both ends of an interval in one evaluation per zoom)."""
        inside, outside = np.array(inside, float), np.array(outside, float)
        t = np.linspace(0.0, 1.0, ZOOM)
        for _ in range(2):       # two zooms narrow each bracket 256-fold, then linear interpolation
            zoom = inside[:, None] + (outside - inside)[:, None] * t          # (pairs, ZOOM)
            values = self(zoom.ravel())[0].reshape(zoom.shape)
            k = np.argmax(values > level, axis=1)    # the first point beyond the level (values[:, 0] is not)
            rows = np.arange(len(k))
            inside, outside = zoom[rows, k - 1], zoom[rows, k]
            below, above = values[rows, k - 1], values[rows, k]
        with np.errstate(invalid="ignore"):
            step = np.where(np.isfinite(above), (level - below) / (above - below), 0.0)
        return inside + (outside - inside) * step


def solve_small(a, b):
    """θ with a θ = b for a stack of 1×1, 2×2 or 3×3 systems (Cramer's rule), and where it is solvable."""
    size = a.shape[-1]
    with np.errstate(all="ignore"):
        if size == 1:
            det = a[:, 0, 0]
            theta = b / det[:, None]
        elif size == 2:
            det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
            theta = np.stack([b[:, 0] * a[:, 1, 1] - a[:, 0, 1] * b[:, 1],
                              a[:, 0, 0] * b[:, 1] - a[:, 1, 0] * b[:, 0]], axis=1) / det[:, None]
        else:
            cofactor = np.cross(a[:, 1], a[:, 2])                  # the adjugate's rows, from cross products
            adjugate = np.stack([cofactor, np.cross(a[:, 2], a[:, 0]), np.cross(a[:, 0], a[:, 1])], axis=2)
            det = np.einsum("pi,pi->p", a[:, 0], cofactor)
            theta = np.einsum("pij,pj->pi", adjugate, b) / det[:, None]
    return theta, np.isfinite(det) & (np.abs(det) > 0) & np.all(np.isfinite(theta), axis=1)


def model_fit(l, e, whiten, terms, threshold) -> dict:
    """p̂, its profile-likelihood interval, χ²(p̂) and the constants of the ``terms``-term model."""
    profile = Profile(l, e, whiten, terms)
    p_hat, chi2_min, chi2_grid = profile.minimum()
    return dict(order=p_hat, ci=profile_interval(profile, p_hat, chi2_min, chi2_grid, threshold), chi2=chi2_min,
                constants=profile.constants(p_hat), terms=terms, parameters=terms + 1)


def profile_interval(profile, p_hat, chi2_min, chi2_grid, threshold):
    """The ends of {p : χ²(p) − χ²(p̂) ≤ threshold}; ±inf where it reaches the edge of the search range.

    Where the set is not connected on the grid, its hull is taken (the wider interval).
    """
    level = chi2_min + threshold
    inside = np.flatnonzero(chi2_grid <= level)
    above = int(np.searchsorted(GRID, p_hat))     # the grid points either side of p̂ belong to the hull
    first = min(int(inside[0]), above) if inside.size else above
    last = max(int(inside[-1]), above - 1) if inside.size else above - 1
    # the grid point just outside each end is beyond the level; the inner end (an inside point or p̂) is not
    ends = [-math.inf, math.inf]
    pairs = []
    if first > 0:
        pairs.append((0, min(GRID[first], p_hat), GRID[first - 1]))
    if last < GRID.size - 1:
        pairs.append((1, max(GRID[last], p_hat), GRID[last + 1]))
    if pairs:
        which, inner, outer = zip(*pairs)
        for end, value in zip(which, profile.crossings(inner, outer, level)):
            ends[end] = float(value)
    return tuple(ends)
