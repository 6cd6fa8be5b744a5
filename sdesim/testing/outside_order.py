"""The weak-order study of `sdesim converge`, run on YOUR simulator: `simulator_study`.

``simulate(l, paths, rng)`` returns your scheme's paths at level l at the recorded times
t_1 < … < t_K (``times``, the same for every l: t = kη for an SVAG(l) of learning rate η),
an array (K, paths, d), or (paths, d) for one time.  With a test function g (vectorized:
``test(x)`` maps (paths, d) to (paths,), default |x|²) each level gives E g(x_k^l) ± its
standard error at every t_k, its paths cut in two halves; the reference E g(X_t) is exact
(``exact``: numbers, or a function of the times) or your own reference simulator
(``reference(paths, rng)``, e.g. Euler–Maruyama with a fine step), cut in halves too.

From there it is the study of `sdesim.estimators.weak_error`, rule for rule: the weak error
e(l) = max_k |E g(x_k^l) − E g(X_{t_k})| with the step of the maximum chosen on paths
independent of those that estimate it (`sdesim.estimators.study_rows`), and the order judged
by `fit_order` over the l ≥ ``fit_from`` (confirmed, rejected or inconclusive).  Each level,
and the reference, draws from its own generator, spawned from ``seed``.  A path whose values
are not finite makes its level diverged: no error is reported for it, and the verdict is
inconclusive.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from sdesim._checks import positive_int
from sdesim.estimators.levels import PARTS, Estimate, Level
from sdesim.estimators.order import check_confidence, check_precision
from sdesim.estimators.study_rows import rows_and_fit
from sdesim.estimators.sweep_arguments import error_kind, l_values_of
from sdesim.estimators.study import Study
from sdesim.estimators.weak_error import DEFAULT_L, MIN_PATHS


def norm2(x: np.ndarray) -> np.ndarray:
    """g(x) = |x|², row by row."""
    return np.einsum("...i,...i->...", x, x)


def _samples(what: str, out, times: np.ndarray, paths: int) -> np.ndarray:
    """``out`` as (K, paths, d), or a ValueError naming what was expected."""
    try:
        a = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must return an array of numbers, got {type(out).__name__}") from None
    if a.ndim == 2 and times.size == 1:
        a = a[None]
    if a.ndim != 3 or a.shape[:2] != (times.size, paths):
        raise ValueError(f"{what} must return the paths at the {times.size} recorded times, an array of shape "
                         f"({times.size}, {paths}, d)" + (f" or ({paths}, d)" if times.size == 1 else "")
                         + f", got shape {a.shape}")
    return a


def _estimate(values: np.ndarray) -> tuple:
    """(Estimate over the PARTS, diverged paths) of g's values (K, paths)."""
    paths = values.shape[1]
    diverged = int(np.sum(~np.all(np.isfinite(values), axis=0)))
    parts = (slice(0, paths), slice(0, paths // 2), slice(paths // 2, paths))
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.stack([values[:, p].mean(axis=1) for p in parts])
        stderr = np.stack([values[:, p].std(axis=1, ddof=1) / math.sqrt(values[:, p].shape[1]) for p in parts])
    return Estimate(mean, stderr, mean, stderr, "monte_carlo"), diverged


def _test_values(test, x: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(test(x), dtype=np.float64)
    if values.shape != x.shape[:2]:
        raise ValueError(f"test(x) must map x of shape (paths, d) to one value per path, shape (paths,); on {what} "
                         f"it returned shape {values.shape[1:]} per time")
    return values


def _generators(seed, count: int):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(count)]


def simulator_study(simulate, *, times, exact=None, reference=None, test=norm2, l_values=DEFAULT_L,
                    paths: int = 10_000, seed: int = 0, expected: float = 1.0, precision: float = 0.1,
                    confidence: float = 0.95, fit_from: int = 2, error: str = "max_over_steps",
                    name: str = "your simulator", lr: float | None = None) -> Study:
    """Run ``simulate(l, paths, rng)`` for each l, estimate e(l) and judge weak order ``expected``.

    ``times``: the K recorded times your simulator returns; ``exact``: E g(X_t) at them (K
    numbers, one number for K = 1, or ``exact(times)``), or ``reference(paths, rng)``: your
    reference simulator's paths at the same times.  ``error``: ``"max_over_steps"`` (the
    paper's) or ``"at_time"`` (the signed gap at the last time).  Returns a `Study`
    (``study.table()``, ``study.fit``; `assert_weak_order` takes it); ``name`` and ``lr``
    (default t_1) label it.
    """
    if not callable(simulate):
        raise TypeError(f"simulate must be a function simulate(l, paths, rng) -> paths, got {type(simulate).__name__}")
    if not callable(test):
        raise TypeError(f"test must be a function of x (paths, d) -> (paths,), got {type(test).__name__}")
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(f"times must be increasing finite recorded times, got {np.asarray(times).tolist()}")
    if (exact is None) == (reference is None):
        raise ValueError("give the reference E g(X_t) as exact= (numbers, or a function of the times) or "
                         "reference= (your reference simulator, reference(paths, rng) -> paths): one of them")
    if reference is not None and not callable(reference):
        raise TypeError(f"reference must be a function reference(paths, rng) -> paths, got {type(reference).__name__}")
    if exact is not None:
        values = exact(times.copy()) if callable(exact) else exact
        exact = np.broadcast_to(np.asarray(values, dtype=np.float64), times.shape) if np.ndim(values) == 0 \
            else np.asarray(values, dtype=np.float64)
        if exact.shape != times.shape or not np.all(np.isfinite(exact)):
            raise ValueError(f"exact must give one finite E g(X_t) per recorded time ({times.size}), got "
                             f"{np.asarray(values).tolist()}")
    l_values = l_values_of(l_values)
    paths = positive_int("paths", paths)
    if paths < MIN_PATHS:
        raise ValueError(f"a Monte Carlo study needs at least {MIN_PATHS} paths per level (standard errors to trust, "
                         f"and two halves that choose the step of the largest gap for each other), got {paths}")
    kind = error_kind(error)
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    fit_from = positive_int("fit_from (the smallest l in the fit)", fit_from)
    generators = _generators(seed, len(l_values) + 1)
    label = getattr(test, "__name__", "g")
    if kind == "at_time":   # the gap at the last time alone
        keep = slice(times.size - 1, times.size)
    else:
        keep = slice(0, times.size)

    levels = {}
    for l, rng in zip(l_values, generators):
        x = _samples(f"simulate(l={l}, paths={paths}, rng)", simulate(l, paths, rng), times, paths)
        estimate, diverged = _estimate(_test_values(test, x, f"level l = {l}")[keep])
        levels[l] = Level(("svag", l, None), {label: estimate}, paths, diverged, math.nan)
    if reference is not None:
        x = _samples(f"reference(paths={paths}, rng)", reference(paths, generators[-1]), times, paths)
        ref, ref_diverged = _estimate(_test_values(test, x, "the reference")[keep])
        if ref_diverged:
            raise AssertionError(f"the reference simulator's paths blew up (NaN or inf) on {ref_diverged} of {paths} "
                                 "paths: no weak error can be measured against it")
        ref_mean, ref_se, source = ref.mean, ref.stderr, "user"
    else:
        ref_mean = np.broadcast_to(exact[keep], (len(PARTS), times[keep].size)).copy()
        ref_se, source = np.zeros_like(ref_mean), "exact"
    fit_l = [l for l in l_values if l >= fit_from]
    rows, fit = rows_and_fit(label, levels, fit_l, ref_mean, ref_se, times[keep], kind, rule, fit_from)
    return Study(problem={"name": name, "params": {}}, method="svag", lr=float(times[0] if lr is None else lr),
                 time=float(times[-1]), test_functions=(label,), l_values=l_values,
                 reference="exact" if exact is not None else getattr(reference, "__name__", "reference"),
                 references={label: source}, engine="monte_carlo", control_variates=False, seed=int(seed),
                 paths=paths, x0=np.full(x.shape[2], math.nan), recorded_times=times[keep], rows=rows,
                 fits={label: fit}, error_kind=kind, fit_from=fit_from,
                 reference_notes={label: "your reference simulator" if reference is not None else "exact values"},
                 warnings=[f"{label}, l = {r.l}: {r.diverged} of {paths} paths diverged (NaN or inf), so no weak error "
                           "is reported for it" for r in rows if r.diverged])
