"""One-step moments of SVAG (Lemma 4.7) and of the SDE (Lemma 4.6), exact and by Monte Carlo.

SVAG's increment at x, from the definition eq. (5): with G = ∇L(x) + λx, h = η/l and
N = c₁ε₁ + c₂ε₂ (ε₁, ε₂ independent gradient noises with covariance Σ and third
moment Λ = E ε^{⊗3}),  Δ = −h (G + N), and since c₁ + c₂ = 1, c₁² + c₂² = l and
c₁³ + c₂³ = 1 − 3c₁c₂ = (3l − 1)/2:

    E Δ      = −(η/l) G
    E ΔΔᵀ    = (η²/l) Σ + (η²/l²) G Gᵀ
    E Δ^{⊗3} = −(η³/l²)·((3 − 1/l)/2)·Λ − (η³/l²)·3·sym(G ⊗ Σ) − (η³/l³)·G^{⊗3}

The paper prints (iii) as +(η³/l²)((3 − l⁻¹)/2)Λ + (η³/l³)(3 sym(∇L ⊗ Σ) + ∇L^{⊗3}):
without the minus sign that every odd moment of Δ = −h(…) carries, and with l⁻³
instead of l⁻² on the cross term (E[G ⊗ N ⊗ N] = G ⊗ lΣ).  Both versions are
O(l⁻²), so the lemma's conclusion stands; `moment_checks` reports both, and
the Monte Carlo z-scores show which one the numbers support.

The SDE's increment over time η/l (Lemma 4.6) is Gaussian on problems with a
closed-form (Ornstein–Uhlenbeck) solution, X − x ~ N(μ, C):
E Δ̃ = μ, E Δ̃Δ̃ᵀ = C + μμᵀ, E Δ̃^{⊗3} = μ^{⊗3} + 3 sym(μ ⊗ C).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from sdesim import rng
from sdesim._checks import positive_float, positive_int
from sdesim.methods import svag_weights
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable


def sym3(t: np.ndarray) -> np.ndarray:
    """The symmetrization of a 3-tensor: the mean over the 6 permutations of its indices."""
    perms = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    return sum(np.transpose(t, p) for p in perms) / 6.0


def outer3(a, b, c) -> np.ndarray:
    return np.einsum("i,j,k->ijk", a, b, c)


def _pieces(problem: Problem, x):
    x = np.asarray(x, float)
    g = problem.mean_grad(x) + problem.weight_decay * x
    if problem.third_moment is None:
        raise ValueError(f"problem {problem.name!r} does not know the third moment Λ of its gradient noise "
                         "(for least squares it is known with sampling 'with_replacement')")
    return g, problem.sigma(x), problem.third_moment(x)


def svag_moments(problem: Problem, x, lr: float, l: int) -> list:
    """Exact [E Δ, E ΔΔᵀ, E Δ^{⊗3}] of one SVAG step at x (derived above)."""
    g, sigma, lam = _pieces(problem, x)
    return [-(lr / l) * g,
            lr**2 / l * sigma + lr**2 / l**2 * np.outer(g, g),
            -(lr**3 / l**2) * (3 - 1 / l) / 2 * lam - (lr**3 / l**2) * 3 * sym3(np.einsum("i,jk->ijk", g, sigma))
            - (lr**3 / l**3) * outer3(g, g, g)]


def svag_third_moment_as_printed(problem: Problem, x, lr: float, l: int) -> np.ndarray:
    """Lemma 4.7 (iii) exactly as the paper prints it (with ∇L including weight decay)."""
    g, sigma, lam = _pieces(problem, x)
    return ((lr**3 / l**2) * (3 - 1 / l) / 2 * lam
            + (lr**3 / l**3) * (3 * sym3(np.einsum("i,jk->ijk", g, sigma)) + outer3(g, g, g)))


def sde_moments(problem: Problem, x, lr: float, l: int) -> list:
    """Exact [E Δ̃, E Δ̃Δ̃ᵀ, E Δ̃^{⊗3}] of the SDE over time η/l (closed-form problems only)."""
    if not problem.has_exact_sde:
        raise ValueError(f"the SDE of problem {problem.name!r} has no closed-form one-step law")
    h = lr / l
    x = np.asarray(x, float)
    mu = problem.exact_sde.mean(h, x) - x
    cov = problem.exact_sde.cov(h, lr)
    return [mu, cov + np.outer(mu, mu), outer3(mu, mu, mu) + 3 * sym3(np.einsum("i,jk->ijk", mu, cov))]


@numba.njit(nogil=True)
def _svag_increments(sample_grad, init_state, x, data, key, c1, c2, h, weight_decay, state_size, out):
    """out[i] = one SVAG step's increment from x, path i drawing from its own stream."""
    d = x.shape[0]
    state = np.empty(4, dtype=np.uint64)
    pstate = np.zeros(max(state_size, 1), dtype=np.int64)
    g1, g2 = np.empty(d), np.empty(d)
    for i in range(out.shape[0]):
        rng.seed_path(key, i, state)
        init_state(data, state, pstate)
        sample_grad(x, data, state, pstate, g1)
        if c2 != 0.0:
            sample_grad(x, data, state, pstate, g2)
        else:
            g2[:] = 0.0
        for j in range(d):
            out[i, j] = -h * (c1 * g1[j] + c2 * g2[j] + weight_decay * x[j])


def raw_moments(samples: np.ndarray, chunk: int = 200_000):
    """Sample raw moments of orders 1-3 and their standard errors, from n×d increments."""
    n, d = samples.shape
    sums = [np.zeros((d,) * k) for k in (1, 2, 3)]
    squares = [np.zeros((d,) * k) for k in (1, 2, 3)]
    for start in range(0, n, chunk):
        s = samples[start:start + chunk]
        products = [s, np.einsum("ni,nj->nij", s, s), np.einsum("ni,nj,nk->nijk", s, s, s)]
        for k in range(3):
            sums[k] += products[k].sum(axis=0)
            squares[k] += (products[k] ** 2).sum(axis=0)
    means = [s / n for s in sums]
    stderrs = [np.sqrt(np.maximum(q / n - m**2, 0.0) / (n - 1)) for q, m in zip(squares, means)]
    return means, stderrs


@dataclass
class MomentCheck:
    """Rows of (method, l, order, exact, estimate, stderr, z), and the O(l⁻²) remainder sweep."""

    problem: dict
    x: np.ndarray
    lr: float
    paths: int
    seed: int
    rows: list = field(default_factory=list)
    remainders: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return to_jsonable({"problem": self.problem, "x": self.x, "lr": self.lr, "paths": self.paths,
                            "seed": self.seed, "rows": self.rows, "remainders": self.remainders})

    def table(self) -> str:
        lines = [f"one-step moments at x = {np.round(self.x, 4).tolist()}, lr={self.lr:g}, "
                 f"{self.paths} samples per row (z = (estimate − exact)/stderr, largest |z| over entries)"]
        lines.append(f"{'method':>6} {'l':>4} {'order':>5} {'max|exact|':>12} {'max|z|':>8} "
                     f"{'printed (iii)':>14} {'sign fixed':>11}")
        for r in self.rows:
            printed = f"{r['paper_max_abs_z']:.1f}" if "paper_max_abs_z" in r else ""
            fixed = f"{r['paper_sign_corrected_max_abs_z']:.1f}" if "paper_max_abs_z" in r else ""
            lines.append(f"{r['method']:>6} {r['l']:>4} {r['order']:>5} {np.max(np.abs(r['exact'])):>12.4g} "
                         f"{r['max_abs_z']:>8.2f} {printed:>14} {fixed:>11}")
        lines.append("")
        lines.append("remainders beyond the lemmas' leading terms, times l² (they level off: O(l⁻²))")
        lines.append(f"{'l':>5} {'SVAG (ii)':>12} {'SVAG (iii)':>12} {'SDE (i)':>12} {'SDE (ii)':>12} {'SDE (iii)':>12}")
        for r in self.remainders:
            sde = [f"{r[k]:>12.4g}" if k in r else f"{'':>12}" for k in ("sde_1", "sde_2", "sde_3")]
            lines.append(f"{r['l']:>5} {r['svag_2']:>12.4g} {r['svag_3']:>12.4g} " + " ".join(sde))
        return "\n".join(lines)


def _z(estimate, exact, stderr):
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(stderr > 0, (estimate - exact) / stderr, np.where(estimate == exact, 0.0, np.inf))
    return z


def moment_checks(problem: Problem, *, x=None, lr: float = 0.1, l_values=(1, 2, 4, 8), paths: int = 1_000_000,
                  seed: int = 0, remainder_l=(1, 2, 4, 8, 16, 32, 64, 128, 256)) -> MomentCheck:
    """Estimate the raw moments of SVAG's (and, where closed-form, the SDE's) one-step increment at x."""
    lr = positive_float("lr (the learning rate η)", lr)
    paths = positive_int("paths", paths)
    if paths < 2:
        raise ValueError("paths must be at least 2 to estimate standard errors")
    l_values = [positive_int("l", l) for l in l_values]
    x = problem.start_point(x)
    _pieces(problem, x)  # raises early if Λ is unknown
    key = rng.stream_key(seed)
    check = MomentCheck(problem={"name": problem.name, "params": to_jsonable(problem.params)}, x=x, lr=lr,
                        paths=paths, seed=seed)
    gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    for l in l_values:
        c1, c2 = svag_weights(l)
        samples = np.empty((paths, problem.dim))
        _svag_increments(problem.functions.sample_grad, problem.functions.init_state, x, problem.data, key,
                         c1, c2, lr / l, problem.weight_decay, problem.state_size, samples)
        estimates, stderrs = raw_moments(samples)
        exact = svag_moments(problem, x, lr, l)
        for k in range(3):
            z = _z(estimates[k], exact[k], stderrs[k])
            row = {"method": "svag", "l": l, "order": k + 1, "exact": exact[k], "estimate": estimates[k],
                   "stderr": stderrs[k], "z": z, "max_abs_z": float(np.max(np.abs(z)))}
            if k == 2:
                printed = svag_third_moment_as_printed(problem, x, lr, l)
                pz = _z(estimates[k], printed, stderrs[k])
                sz = _z(estimates[k], -printed, stderrs[k])  # the sign alone corrected
                row.update(paper=printed, paper_z=pz, paper_max_abs_z=float(np.max(np.abs(pz))),
                           paper_sign_corrected_max_abs_z=float(np.max(np.abs(sz))))
            check.rows.append(row)
        if problem.has_exact_sde:
            f_mat, c_vec, k_mat = problem.exact_sde.transition(lr / l, lr)
            increments = (f_mat @ x + c_vec - x) + gen.standard_normal((paths, problem.dim)) @ k_mat.T
            estimates, stderrs = raw_moments(increments)
            exact = sde_moments(problem, x, lr, l)
            for k in range(3):
                z = _z(estimates[k], exact[k], stderrs[k])
                check.rows.append({"method": "sde", "l": l, "order": k + 1, "exact": exact[k],
                                   "estimate": estimates[k], "stderr": stderrs[k], "z": z,
                                   "max_abs_z": float(np.max(np.abs(z)))})
    g, sigma, _ = _pieces(problem, x)
    for l in remainder_l:
        m = svag_moments(problem, x, lr, l)
        row = {"l": l, "svag_2": float(np.max(np.abs(m[1] - lr**2 / l * sigma))) * l**2,
               "svag_3": float(np.max(np.abs(m[2]))) * l**2}
        if problem.has_exact_sde:
            s = sde_moments(problem, x, lr, l)
            row.update(sde_1=float(np.max(np.abs(s[0] + lr / l * g))) * l**2,
                       sde_2=float(np.max(np.abs(s[1] - lr**2 / l * sigma))) * l**2,
                       sde_3=float(np.max(np.abs(s[2]))) * l**2)
        check.remainders.append(row)
    return check
