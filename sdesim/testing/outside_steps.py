"""One-step moments of YOUR SVAG step against sdesim's exact ones (Lemma 4.7), and the square-root trap.

One call ``step(x, rng)`` is one small step of SVAG (eq. 5) with learning rate η/l: ``x`` is an
array of shape (paths, d), every row the same point, ``rng`` a `numpy.random.Generator`, and
it returns the next array (paths, d).  An effective step of SVAG(l) is l such calls; l = 1 is
SGD.  The increments Δ = step(x) − x must have the exact raw moments of `svag_moments`:

    E Δ = −(η/l) G,  E ΔΔᵀ = (η²/l) Σ + (η²/l²) GGᵀ,
    E Δ^{⊗3} = −(η³/l²)((3 − 1/l)/2) Λ − (η³/l²) 3 sym(G ⊗ Σ) − (η³/l³) G^{⊗3},  G = ∇L(x) + λx.

The square-root trap.  On problems with additive noise ξ = F ε̄ (quadratic, double well), Σ =
FFᵀ/B fixes F only up to a rotation, and Λ = E ξ^{⊗3} = (κ₃/B²) Σ_k f_k^{⊗3} depends on which
root F the code draws with: sdesim uses the symmetric one, F = S^{1/2}; code that draws with a
Cholesky factor is just as correct and has another Λ wherever S is not diagonal and the noise
is skewed (κ₃ ≠ 0).  ``noise_factor`` says which root your code uses (``"symmetric"``,
``"cholesky"``, or the matrix F itself, F Fᵀ = S); a third-moment failure under the default
says whether the Cholesky factor would fit your samples.  Orders 1 and 2 do not depend on F.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from sdesim.estimators.moment_checks import MomentCheck, _z, raw_moments, svag_moments
from sdesim.problems.base import Problem
from sdesim.problems.noise import THIRD_MOMENT, third_moment_tensor

# problems whose gradient noise is F ε̄: their S (F Fᵀ = S, before the batch's 1/B) from their params
ADDITIVE_NOISE = {
    "quadratic": lambda p: np.asarray(p["noise_cov"], dtype=float),
    "double_well": lambda p: p["noise_scale"] ** 2 * np.eye(p["dim"]),
}
FACTOR_NAMES = ("symmetric", "cholesky")
NAMES = {1: "E Δ", 2: "E ΔΔᵀ", 3: "E Δ^{⊗3}"}


def _additive(problem: Problem):
    """(S, law, B) of a problem whose noise is F ε̄, else None."""
    if problem.name not in ADDITIVE_NOISE:
        return None
    return ADDITIVE_NOISE[problem.name](problem.params), problem.params["noise"], problem.params["batch_size"]


def factor_matters(problem: Problem) -> bool:
    """Whether Λ, and so E Δ^{⊗3}, depends on the square root of S the code draws with."""
    additive = _additive(problem)
    if additive is None:
        return False
    s, law, _ = additive
    return THIRD_MOMENT[law] != 0 and not np.allclose(s, np.diag(np.diag(s)))


def resolve_factor(problem: Problem, noise_factor):
    """The matrix F of ``noise_factor`` ("symmetric", "cholesky" or F with F Fᵀ = S), checked; None: sdesim's."""
    if noise_factor is None:
        return None
    additive = _additive(problem)
    if additive is None:
        raise ValueError(f"noise_factor applies to problems whose gradient noise is F ε̄ ({sorted(ADDITIVE_NOISE)}); "
                         f"the noise of problem {problem.name!r} is not drawn through a factor, so its third moment "
                         "does not depend on one: leave noise_factor out")
    s = additive[0]
    if isinstance(noise_factor, str):
        if noise_factor not in FACTOR_NAMES:
            raise ValueError(f"noise_factor must be one of {FACTOR_NAMES} or a matrix F with F Fᵀ = S, "
                             f"got {noise_factor!r}")
        if noise_factor == "symmetric":
            values, vectors = np.linalg.eigh(s)
            return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        try:
            return np.linalg.cholesky(s)
        except np.linalg.LinAlgError:
            raise ValueError("noise_factor 'cholesky' needs a positive definite noise covariance S; this S is "
                             "singular: pass the factor your code uses as a matrix") from None
    f = np.asarray(noise_factor, dtype=float)
    if f.ndim != 2 or f.shape[0] != problem.dim or not np.all(np.isfinite(f)):
        raise ValueError(f"noise_factor as a matrix must be finite with {problem.dim} rows (F with F Fᵀ = S), "
                         f"got shape {f.shape}")
    if not np.allclose(f @ f.T, s, rtol=1e-8, atol=1e-10 * max(1.0, float(np.max(np.abs(s))))):
        raise ValueError(f"noise_factor F is not a square root of the problem's noise covariance S: F Fᵀ = "
                         f"{np.round(f @ f.T, 6).tolist()}, S = {np.round(s, 6).tolist()}")
    return f


def with_factor(problem: Problem, factor) -> Problem:
    """The problem with Λ of noise drawn as F ε̄ (F = ``factor``); the problem itself if ``factor`` is None."""
    if factor is None:
        return problem
    _, law, batch = _additive(problem)
    return dataclasses.replace(problem, third_moment=lambda x: third_moment_tensor(factor, law, batch))


def increments(step, x: np.ndarray, paths: int, rng: np.random.Generator) -> np.ndarray:
    """Δ = step(x, rng) − x for ``paths`` copies of x; a wrong shape is a ValueError, NaN or inf a failure."""
    start = np.tile(x, (paths, 1))
    out = step(start.copy(), rng)
    try:
        out = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"step(x, rng) must return an array of numbers of shape {start.shape} (paths, d), "
                        f"got {type(out).__name__}") from None
    if out.shape != start.shape:
        raise ValueError(f"step(x, rng) must return the next points, an array of shape {start.shape} (paths, d) "
                         f"like x, got shape {out.shape}")
    bad = ~np.all(np.isfinite(out), axis=1)
    if bad.any():
        raise AssertionError(f"step(x, rng) returned values that are not finite (NaN or inf) in {int(bad.sum())} of "
                             f"{paths} rows, the first in row {int(np.argmax(bad))}: {out[np.argmax(bad)].tolist()}, "
                             f"from x = {x.tolist()}")
    return out - x


def check_step_arguments(problem, step, l, lr, paths, seed):
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an sdesim Problem (see sdesim.problems), got {type(problem).__name__}")
    if not callable(step):
        raise TypeError(f"step must be a function step(x, rng) -> next x, got {type(step).__name__}")
    if isinstance(l, bool) or not isinstance(l, numbers.Integral) or l < 1:
        raise ValueError(f"with step=, l must be the one integer l >= 1 your step uses (call once per l), got {l!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr (the learning rate η your step uses, with small step η/l) must be a number > 0, "
                         f"got {lr!r}")
    if isinstance(paths, bool) or not isinstance(paths, numbers.Integral) or paths < 2:
        raise ValueError(f"paths must be an integer >= 2 (the rows of x), got {paths!r}")
    if not isinstance(seed, (numbers.Integral, np.random.Generator)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer or a numpy.random.Generator, got {type(seed).__name__}")


def trap_note(problem: Problem, x, lr, l, estimate, stderr, factor, sigmas) -> str:
    """What a third-moment failure says about the square root of S: which root the samples fit."""
    if not factor_matters(problem):
        return ""
    s = _additive(problem)[0]
    which = "the symmetric root S^{1/2} (sdesim's)" if factor is None else "your noise_factor"
    lines = ["  the third moment depends on which square root F of the noise covariance S (F Fᵀ = S) your step "
             "draws its noise with (the square-root trap): Λ = E ξ^{⊗3} = (κ₃/B²) Σ_k f_k^{⊗3} differs between "
             f"roots of this S, and this check assumed {which}"]
    assumed = resolve_factor(problem, "symmetric") if factor is None else factor
    for name in FACTOR_NAMES:
        candidate = resolve_factor(problem, name) if name == "symmetric" or np.all(np.linalg.eigvalsh(s) > 0) else None
        if candidate is None or np.allclose(candidate, assumed):
            continue
        exact = svag_moments(with_factor(problem, candidate), x, lr, l)[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = float(np.max(np.abs((estimate - exact) / stderr)))
        verdict = "fits your samples" if z <= sigmas else "does not fit either"
        lines.append(f"  with the {name} root the largest gap is {z:.1f} standard errors: it {verdict}"
                     + (f"; if your code draws with it, pass noise_factor={name!r}" if z <= sigmas else ""))
    return "\n".join(lines)


def shared_noise_note(samples: np.ndarray) -> str:
    if samples.shape[0] > 1 and np.all(samples == samples[0]):
        return ("  every row got the same increment: the step draws one noise for all paths (or none); each row "
                "must draw its own")
    return ""


def sampled_moments(step, x, paths, seed):
    """Raw moments 1-3 of the increments and their standard errors, and the samples."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    samples = increments(step, x, paths, rng)
    estimates, stderrs = raw_moments(samples)
    return estimates, stderrs, samples


def assert_step_moments(problem, step, *, l, x, lr, paths, seed, orders, noise_factor, sigmas, atol):
    """`assert_one_step_moments` with ``step=``: your step's sampled moments against Lemma 4.7's exact ones."""
    from sdesim.testing.assertions import _compare, _where_names   # here: assertions imports this module

    check_step_arguments(problem, step, l, lr, paths, seed)
    x = problem.start_point(x)
    factor = resolve_factor(problem, noise_factor)
    exact = svag_moments(with_factor(problem, factor), x, float(lr), int(l))   # raises early if Λ is unknown
    estimates, stderrs, samples = sampled_moments(step, x, int(paths), seed)
    check = MomentCheck(problem={"name": problem.name, "params": problem.params}, x=x, lr=float(lr),
                        paths=int(paths), seed=seed if isinstance(seed, numbers.Integral) else -1)
    root = "" if not factor_matters(problem) else (
        ", noise factor " + ("symmetric S^{1/2} (sdesim's)" if factor is None else
                             noise_factor if isinstance(noise_factor, str) else "yours"))
    failures = []
    for k in orders:
        z = _z(estimates[k - 1], exact[k - 1], stderrs[k - 1])
        check.rows.append({"method": "your step", "l": int(l), "order": k, "exact": exact[k - 1],
                           "estimate": estimates[k - 1], "stderr": stderrs[k - 1], "z": z,
                           "max_abs_z": float(np.max(np.abs(z)))})
        header = (f"{NAMES[k]} of one small step of your SVAG (l = {l}, step η/l, Lemma 4.7) on {problem.name} "
                  f"at x = {np.round(x, 4).tolist()}, lr = {lr:g}, {paths} samples{root}")
        try:
            _compare(estimates[k - 1], stderrs[k - 1], exact[k - 1], 0.0, sigmas=sigmas, atol=atol,
                     labels=_where_names(exact[k - 1].shape, NAMES[k], None), what="sampled", against="exact",
                     header=header)
        except AssertionError as failure:
            notes = [shared_noise_note(samples)]
            if k == 3 and not failures:     # orders 1 and 2 hold: the root is the one thing left to name
                notes.append(trap_note(problem, x, lr, l, estimates[2], stderrs[2], factor, sigmas))
            failures.append("\n".join([str(failure), *(n for n in notes if n)]))
    if failures:
        raise AssertionError("\n".join(failures))
    return check
