"""Monte Carlo estimates of E g(x_k) at every recorded step, for each level (method, l, dt) of a study.

Each level runs on its own random streams (derived from the seed and the level's position).
Its paths are cut into two halves (the first and the second half of its blocks of paths), so
that a study can choose the step of the largest error on one half and estimate it on the
other; the full sample is reported too.

Control variates, in the open.  On linear-quadratic problems the exact means of
h = (x_i, x_i x_j) are known for every method and l (`ExactMoments`), so

    ĝ_cv = ḡ − βᵀ(h̄ − E h),   β = Ĉov(h)⁻¹ Ĉov(h, g),

has the mean of ḡ (up to an O(1/N) term from estimating β on the same paths) and the
variance of the part of g that h does not explain.  Every estimate keeps the plain
Monte Carlo mean beside it, and each level reports the largest control discrepancy
z = (h̄ − E h)/se(h̄) over the controls and steps: a check of the kernel against the
exact moment engine, which should be within a few units.

A test function in the span of the controls (every built-in observable is quadratic on
these problems) would come out of ĝ_cv with zero variance: its value *is* the exact one.
It is therefore labelled ``exact_in_span`` and given the exact-moment value, never passed
off as Monte Carlo; its plain Monte Carlo estimate is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.study_warnings import dominant_block
from sdesim.estimators.test_functions import EXTRA_TESTS, second_moments
from sdesim.executors import connect, execute, split
from sdesim.simulate import BUILTIN_OBSERVABLES, Run

PARTS = ("full", "first half", "second half")
CV_ALARM = 5.0          # |z| of a control's plain mean against its exact value that flags the kernel
IN_SPAN = 1e-12         # residual variance / variance below which a user test is in the span of the controls
QUADRATIC_TESTS = BUILTIN_OBSERVABLES   # quadratic in x on every linear-quadratic problem


def control_count(dim: int) -> int:
    """How many controls h = (x_i, x_i x_j for i ≤ j) a level of a d-dimensional problem has: d + d(d+1)/2."""
    return dim * (dim + 3) // 2


@dataclass(frozen=True, eq=False)
class Estimate:
    """E g at each recorded step of one scalar test function: rows are PARTS (full sample, halves)."""

    mean: np.ndarray          # (3, steps)
    stderr: np.ndarray        # (3, steps); 0 where the value is exact
    raw_mean: np.ndarray      # plain Monte Carlo, (3, steps)
    raw_stderr: np.ndarray
    source: str               # "monte_carlo", "control_variates" or "exact_in_span"


@dataclass(frozen=True)
class Level:
    """The estimates of one level, keyed by scalar test name ('norm4', 'x[0]', …)."""

    label: tuple
    estimates: dict
    paths: int
    diverged: int
    cv_residual_z: float      # the largest control discrepancy (signed); NaN without control variates
    tails: dict = field(default_factory=dict)   # scalar test → (share, blocks, step) of its most dominant block


def scalar_tests(slices: dict, tests) -> list:
    """[(scalar name, test, component or None)]: one entry per component of a vector test."""
    out = []
    for test in tests:
        start, stop, vector = slices[test]
        if vector:
            out += [(f"{test}[{j}]", test, j) for j in range(stop - start)]
        else:
            out.append((test, test, None))
    return out


def halves_block_size(paths: int, block_size: int) -> int:
    """The block size that leaves at least two blocks, so that the paths split into halves."""
    return max(1, min(block_size, -(-paths // 2)))


def estimate_levels(problem, labels, tests, user_tests, *, lr, steps, x0, ckpts, paths, seed, use_cv, client=None,
                    progress=False, block_size=1024, hyperparameters=None, dtype="float64", stream_version=1):
    """Run every level and estimate each test at each recorded step (``ckpts``, effective steps).

    A label is (method, l, dt or None); ``hyperparameters`` go to every level (the adaptive methods'), and so
    do ``dtype``, the paths' floating-point type, and ``stream_version`` (`sdesim.rng.versions`).

    Returns ({label: `Level`}, the executor's outcome); levels cut short by Ctrl-C are absent.
    """
    builtin = [t for t in tests if t in BUILTIN_OBSERVABLES]
    observables = list(dict.fromkeys(builtin + (["x"] if use_cv else [])))
    user = {t: EXTRA_TESTS[t] for t in tests if t in EXTRA_TESTS}
    user.update(user_tests or {})
    if use_cv:
        user["second_moments"] = second_moments
    block_size = halves_block_size(paths, block_size)
    common = dict(lr=lr, steps=steps, x0=x0, checkpoints=ckpts, observables=observables,
                  user_observables=user, block_size=block_size, covariance=use_cv, dtype=dtype,
                  stream_version=stream_version)
    runs, tasks = {}, []
    for i, label in enumerate(labels):
        m, l, dt = label
        # independent streams per level, so that the points of a fit are independent
        level_seed = int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0] >> np.uint64(1))
        settings = dict(common, l=l, seed=level_seed, **(hyperparameters or {}))
        if dt is not None:
            settings["dt"] = dt
        runs[label] = Run(problem, m, **settings)
        tasks += split(label, runs[label], dict(settings, method=m), paths)
    engine = ExactMoments(problem, lr) if use_cv else None   # before any path moves: it may not fit
    outcome = execute(problem, tasks, runs, client=connect(client), progress=progress, desc="paths")
    levels = {}
    for label, stats in outcome.stats.items():
        # a diverging level overflows here; it is reported as diverged (Level.diverged), not by numpy's warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            levels[label] = _level(problem, outcome.runs[label], stats, label, tests, engine, ckpts, x0, paths)
    return levels, outcome


def _parts(stats):
    """The full block statistics and those of the first and second half of the blocks."""
    n = stats.counts.shape[0]
    return (stats, stats.subset(slice(0, n // 2)), stats.subset(slice(n // 2, n)))


def _level(problem, run, stats, label, tests, engine, ckpts, x0, paths) -> Level:
    slices = run.layout.slices
    names = scalar_tests(slices, tests)
    parts = _parts(stats)
    summaries = [part.summary() for part in parts]
    raw, tails = {}, {}
    for name, test, j in names:
        column = slices[test][0] + (j or 0)
        raw[name] = (np.array([s[1][:, column] for s in summaries]), np.array([s[2][:, column] for s in summaries]))
        tails[name] = dominant_block(stats, column)
    if engine is None:
        estimates = {name: Estimate(m, s, m, s, "monte_carlo") for name, (m, s) in raw.items()}
        return Level(label, estimates, paths, stats.diverged, float("nan"), tails)

    method, l, dt = label
    moments = engine.method_moments(method, l, ckpts, x0, dt=dt)
    exact_obs = engine.observables(moments)
    d = len(x0)
    iu = np.triu_indices(d)
    control_mean = np.concatenate([moments.mean, moments.second[:, iu[0], iu[1]]], axis=1)   # (steps, c)
    xa = slices["x"][0]
    sa, sb, _ = slices["second_moments"]
    controls = np.r_[np.arange(xa, xa + d), np.arange(sa, sb)]
    adjusted = [_control_variates(part, summary, controls, control_mean, [slices[t][0] + (j or 0)
                                                                         for _, t, j in names])
                for part, summary in zip(parts, summaries)]
    counts, mean, stderr = summaries[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mean[:, controls] - control_mean) / stderr[:, controls]
    z = z[np.isfinite(z)]
    cv_z = float(z[np.argmax(np.abs(z))]) if z.size else float("nan")

    estimates = {}
    for i, (name, test, j) in enumerate(names):
        raw_mean, raw_se = raw[name]
        if test in QUADRATIC_TESTS:
            value = exact_obs[test] if j is None else exact_obs[test][:, j]
            exact = np.broadcast_to(value, raw_mean.shape).copy()
            estimates[name] = Estimate(exact, np.zeros_like(exact), raw_mean, raw_se, "exact_in_span")
            continue
        cv_mean = np.array([a[0][:, i] for a in adjusted])
        cv_se = np.array([a[1][:, i] for a in adjusted])
        if adjusted[0][2][:, i].all():    # a user test in the span of the controls, numerically
            exact = np.broadcast_to(cv_mean[0], raw_mean.shape).copy()
            estimates[name] = Estimate(exact, np.zeros_like(exact), raw_mean, raw_se, "exact_in_span")
        else:
            estimates[name] = Estimate(cv_mean, cv_se, raw_mean, raw_se, "control_variates")
    return Level(label, estimates, paths, stats.diverged, cv_z, tails)


def _control_variates(stats, summary, controls, control_mean, targets):
    """(ĝ_cv, its standard error, in-span flags), each (steps, targets), for one part of a level.

    Each target is computed on its own, so that its numbers do not depend, to the last bit,
    on which other test functions are studied beside it.
    """
    counts, mean, _ = summary
    cov = stats.covariance()                                           # (steps, obs, obs)
    inverse = np.linalg.pinv(cov[:, controls][:, :, controls], rcond=1e-12, hermitian=True)   # (steps, c, c)
    shift = mean[:, controls] - control_mean                           # (steps, c)
    n = counts.astype(float)
    c = len(controls)
    est, se, in_span = (np.empty((len(n), len(targets))) for _ in range(3))
    for j, target in enumerate(targets):
        c_hg = cov[:, controls, target]                                # (steps, c)
        beta = np.einsum("kcd,kd->kc", inverse, c_hg)
        est[:, j] = mean[:, target] - np.einsum("kc,kc->k", shift, beta)
        var = cov[:, target, target]
        resid = var - np.einsum("kc,kc->k", c_hg, beta)
        in_span[:, j] = resid <= IN_SPAN * var
        with np.errstate(invalid="ignore", divide="ignore"):
            se[:, j] = np.sqrt(np.maximum(resid, 0.0) / n * (n - 1) / np.maximum(n - 1 - c, 1))
    return est, se, in_span.astype(bool)
