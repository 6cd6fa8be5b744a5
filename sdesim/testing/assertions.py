"""Assertions for tests of SDE approximations: Monte Carlo numbers held against each other or exact values.

Every check is of the form

    |measured − expected| ≤ k · √(se_measured² + se_expected²) + atol      (k = ``sigmas``, default 5)

entry by entry.  False alarms: for a correct simulation each entry fails by chance with
probability α(k) = erfc(k/√2), 5.7·10⁻⁷ at k = 5 (the two-sided normal tail of a mean of
many paths), and a call that compares n entries with probability at most n·α(k)
(`sdesim.testing.power.false_alarm_rate`; `bonferroni_sigmas` gives the k for a family of
comparisons).  The rates are measured over fresh seeds in benchmarks/RESULTS.md (section 13).
The normal tail needs enough paths: third moments of skewed noise need 10⁵
(`assert_one_step_moments`).  `assert_weak_order` is a different rule, with its own rate
(its docstring).  With fixed seeds a test built on these never flakes.  A failure says
what was measured (mean ± standard error), against what, by how many standard errors, and
where (observable, component, checkpoint time).  A failed check always raises
``AssertionError``; a bad argument raises ``ValueError`` or ``TypeError`` before anything is
compared.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from sdesim.estimators.moment_checks import moment_checks
from sdesim.estimators.order import OrderFit, check_confidence, check_precision, fit_order, refit
from sdesim.estimators.study import Study
from sdesim.problems.base import Problem
from sdesim.result import Result

DEFAULT_SIGMAS = 5.0
ROUNDING = 1e-12   # default atol: room for rounding where a standard error is 0 (exact or noise-free values)
MAX_LISTED = 8     # failing entries listed in a message, worst first
# assert_weak_order's rule: a half-width of 0.25 tells order 1 from 0.5 and 1.5 and is within a test's budget
# (weak_order_paths_needed); at 99.9% the intervals reject a correct order in about 0.1% of runs at most, the
# floor test (3 standard errors, sdesim.estimators.order.FLOOR_Z) in 0.2%
ORDER_PRECISION = 0.25
ORDER_CONFIDENCE = 0.999

__all__ = ["assert_within_stderr", "assert_matches_exact", "assert_agree", "assert_identical_results",
           "assert_weak_order", "assert_one_step_moments"]


# --- argument checks (ValueError / TypeError, never AssertionError) ----------------------------

def _sigmas(sigmas) -> float:
    if isinstance(sigmas, bool) or not isinstance(sigmas, numbers.Real) or not np.isfinite(sigmas) or sigmas <= 0:
        raise ValueError(f"sigmas (the tolerance in standard errors) must be a finite number > 0, got {sigmas!r}")
    return float(sigmas)


def _atol(atol) -> float:
    if isinstance(atol, bool) or not isinstance(atol, numbers.Real) or not np.isfinite(atol) or atol < 0:
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    return float(atol)


def _array(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}") from None


def _result(name: str, value) -> Result:
    if not isinstance(value, Result):
        raise TypeError(f"{name} must be an sdesim Result (what sdesim.simulate returns), got {type(value).__name__}")
    return value


def _observable(result: Result, name: str, which: str):
    if not isinstance(name, str):
        raise TypeError(f"observable must be a name (str), got {name!r}")
    if name not in result.observables:
        raise ValueError(f"{which} has no observable {name!r}; it has {sorted(result.observables)}")
    return result.observables[name]


def _checkpoint_indices(result: Result, at, which: str):
    """Indices of the checkpoint times ``at`` (None: all) in ``result.times``, and whether ``at`` was one time."""
    if at is None:
        return np.arange(len(result.times)), False
    single = np.ndim(at) == 0
    wanted = _array("at (checkpoint times t = kη)", np.atleast_1d(at))
    if wanted.ndim != 1 or wanted.size == 0 or not np.all(np.isfinite(wanted)):
        raise ValueError(f"at must be a checkpoint time or a non-empty list of them, got {at!r}")
    indices = []
    for t in wanted:
        hits = np.flatnonzero(np.isclose(result.times, t, rtol=1e-9, atol=1e-12))
        if hits.size == 0:
            listed = ", ".join(f"{v:g}" for v in result.times)
            raise ValueError(f"{which} has no checkpoint at t = {t:g}; its checkpoint times are {listed} "
                             "(times t = kη of the effective steps given as checkpoints)")
        indices.append(int(hits[0]))
    return np.array(indices), single


def _label(result: Result) -> str:
    extra = f", l={result.l}" if result.method in ("svag", "sde") else ""
    return f"{result.method}{extra}"


def _divergence_failure(result: Result, which: str, allow_diverged: bool):
    if result.diverged and not allow_diverged:
        raise AssertionError(
            f"{which} ({_label(result)}) had {result.diverged} of {result.paths} paths blow up (NaN or inf), "
            f"the first at t = {result.first_divergence_time:g}; its means are over the paths that survived, "
            "so they are not the expectation under test (pass allow_diverged=True to compare them anyway)")


# --- the core comparison -------------------------------------------------------------------------

def _where_names(shape, name, times):
    """A label per entry of an array of the given shape: 't = 0.4, x[1]'."""
    labels = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        parts = []
        rest = index
        if times is not None and len(index) >= 1:
            parts.append(f"t = {times[index[0]]:g}")
            rest = index[1:]
        parts.append(name + "".join(f"[{i}]" for i in rest))
        labels[index] = ", ".join(parts)
    return labels


def _compare(measured, stderr, expected, expected_stderr, *, sigmas, atol, labels, what, against, header):
    """Raise AssertionError listing every entry with |measured − expected| > k·√(se² + se_e²) + atol."""
    measured, stderr, expected, expected_stderr = (np.atleast_1d(a) for a in np.broadcast_arrays(
        measured, stderr, expected, expected_stderr))
    labels = np.asarray(labels, dtype=object).reshape(measured.shape)
    combined = np.sqrt(stderr**2 + expected_stderr**2)
    gap = measured - expected
    finite = np.isfinite(measured) & np.isfinite(expected) & np.isfinite(combined)
    with np.errstate(invalid="ignore"):
        bad = ~finite | (np.abs(gap) > sigmas * combined + atol)
    if not np.any(bad):
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(combined > 0, np.abs(gap) / combined, np.where(gap == 0, 0.0, np.inf))
    order = sorted(zip(*np.nonzero(bad)), key=lambda i: (finite[i], -np.nan_to_num(z[i], nan=np.inf)))
    lines = [f"{header}: {int(bad.sum())} of {bad.size} entries differ by more than {sigmas:g} standard errors"
             + (f" (+ atol {atol:g})" if atol > ROUNDING else "")]
    for i in order[:MAX_LISTED]:
        if not finite[i]:
            lines.append(f"  {labels[i]}: {what} {measured[i]:.6g} ± {stderr[i]:.3g} vs {against} {expected[i]:.6g}"
                         " — not a finite number (paths blew up, or too few paths for a standard error)")
            continue
        against_value = f"{expected[i]:.6g}" + (f" ± {expected_stderr[i]:.3g}" if expected_stderr[i] else "")
        distance = "an exact mismatch with 0 standard error" if combined[i] == 0 else (
            f"{z[i]:.1f} standard errors" + (f" (combined {combined[i]:.3g})" if expected_stderr[i] else ""))
        lines.append(f"  {labels[i]}: {what} {measured[i]:.6g} ± {stderr[i]:.3g} vs {against} {against_value}; "
                     f"difference {gap[i]:+.4g} = {distance}")
    if len(order) > MAX_LISTED:
        lines.append(f"  … and {len(order) - MAX_LISTED} more")
    raise AssertionError("\n".join(lines))


def assert_within_stderr(measured, stderr, expected, *, expected_stderr=0.0, sigmas: float = DEFAULT_SIGMAS,
                         atol: float = ROUNDING, name: str = "value"):
    """Assert |measured − expected| ≤ sigmas·√(stderr² + expected_stderr²) + atol, entry by entry.

    The plain-array form of the other assertions: ``measured`` with its standard
    error against ``expected`` (exact, or with its own ``expected_stderr``).
    Arrays broadcast against each other; ``name`` labels the entries in the message.

    False alarms: n entries of normal estimates with true standard errors fail together
    with probability at most n·erfc(k/√2): 5.7·10⁻⁷ per entry at k = 5.
    """
    sigmas, atol = _sigmas(sigmas), _atol(atol)
    arrays = [_array(label, v) for label, v in (("measured", measured), ("stderr", stderr),
                                                ("expected", expected), ("expected_stderr", expected_stderr))]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ValueError("measured, stderr, expected and expected_stderr must have broadcastable shapes, got "
                         + ", ".join(str(a.shape) for a in arrays)) from None
    for label, a in (("stderr", arrays[1]), ("expected_stderr", arrays[3])):
        if np.any(a < 0):
            raise ValueError(f"{label} must be >= 0 (a standard error), got {a[a < 0].ravel()[0]:g}")
    _compare(*arrays, sigmas=sigmas, atol=atol, labels=_where_names(shape, name, None), what="measured",
             against="expected", header=f"{name} does not match")


def assert_matches_exact(result, observable: str, exact, *, at=None, sigmas: float = DEFAULT_SIGMAS,
                         atol: float = ROUNDING, allow_diverged: bool = False):
    """Assert a simulation's mean of ``observable`` equals ``exact`` within ``sigmas`` standard errors.

    ``exact`` holds the exact expectations (a closed form, `OrnsteinUhlenbeck`
    ``.observables``, or `ExactMoments` ``.observables``;
    a dict of them is indexed by ``observable``) at the checkpoint time ``at``
    (one time: one row; a list of times or ``None`` for all: one row per time).

    False alarms: at most n·erfc(k/√2) for n compared entries (components × times),
    5.7·10⁻⁷ per entry at k = 5; measured over fresh seeds in benchmarks/RESULTS.md.
    """
    result = _result("result", result)
    sigmas, atol = _sigmas(sigmas), _atol(atol)
    obs = _observable(result, observable, "result")
    if isinstance(exact, Mapping):
        if observable not in exact:
            raise ValueError(f"exact holds no value for {observable!r}; it has {sorted(exact)}")
        exact = exact[observable]
    exact = _array("exact", exact)
    rows, single = _checkpoint_indices(result, at, "result")
    mean, stderr = obs.mean[rows], obs.stderr[rows]
    want = mean.shape[1:] if single else mean.shape
    if exact.shape != want and exact.ndim != 0:
        where = f"one value per component at t = {at:g}" if single else f"one row per checkpoint ({len(rows)})"
        raise ValueError(f"exact for {observable!r} must have shape {want} ({where}) or be a single number, "
                         f"got shape {exact.shape}")
    _divergence_failure(result, "the result", allow_diverged)
    if single:
        exact = exact[None] if exact.ndim else exact
    _compare(mean, stderr, exact, 0.0, sigmas=sigmas, atol=atol,
             labels=_where_names(mean.shape, observable, result.times[rows]), what="simulated", against="exact",
             header=f"{_label(result)} on {result.problem['name']} does not match the exact {observable!r}")


def assert_agree(result_a, result_b, observable: str, *, at=None, sigmas: float = DEFAULT_SIGMAS,
                 atol: float = ROUNDING, allow_diverged: bool = False):
    """Assert two simulations agree on ``observable`` within Monte Carlo error:

        |mean_a − mean_b| ≤ sigmas · √(se_a² + se_b²)   per component, at each checkpoint time in ``at``

    (``None``: every checkpoint, and then both results must have the same checkpoint times).
    Their random numbers must be independent (different seeds) for the combined error to hold.

    False alarms: at most n·erfc(k/√2) for n compared entries, 5.7·10⁻⁷ per entry at k = 5;
    measured over fresh seeds in benchmarks/RESULTS.md.
    """
    a, b = _result("result_a", result_a), _result("result_b", result_b)
    sigmas, atol = _sigmas(sigmas), _atol(atol)
    obs_a, obs_b = _observable(a, observable, "result_a"), _observable(b, observable, "result_b")
    if at is None and (a.times.shape != b.times.shape or not np.allclose(a.times, b.times, rtol=1e-9, atol=1e-12)):
        raise ValueError(f"the results have different checkpoint times ({a.times.tolist()} and {b.times.tolist()}); "
                         "pass at= with the times to compare")
    rows_a, _ = _checkpoint_indices(a, at, "result_a")
    rows_b, _ = _checkpoint_indices(b, at, "result_b")
    if obs_a.mean.shape[1:] != obs_b.mean.shape[1:]:
        raise ValueError(f"{observable!r} has {obs_a.mean.shape[1:]} components per checkpoint in result_a but "
                         f"{obs_b.mean.shape[1:]} in result_b; the results are of different problems")
    _divergence_failure(a, "result_a", allow_diverged)
    _divergence_failure(b, "result_b", allow_diverged)
    label_a, label_b = _label(a), _label(b)
    if label_a == label_b:
        label_a, label_b = f"{label_a} (seed {a.seed})", f"{label_b} (seed {b.seed})"
    mean = obs_a.mean[rows_a]
    _compare(mean, obs_a.stderr[rows_a], obs_b.mean[rows_b], obs_b.stderr[rows_b], sigmas=sigmas, atol=atol,
             labels=_where_names(mean.shape, observable, a.times[rows_a]), what=label_a, against=label_b,
             header=f"{label_a} and {label_b} on {a.problem['name']} disagree on {observable!r}")


def assert_identical_results(result_a, result_b):
    """Assert two results hold bit-for-bit the same statistics (same observables, means, errors, counts).

    For exact invariants: SVAG with l = 1 is SGD, one thread gives what two threads give,
    a JSON round trip changes nothing.

    False alarms: none (rate 0): nothing random is compared, only exact equality.
    """
    a, b = _result("result_a", result_a), _result("result_b", result_b)
    problems = []
    if sorted(a.observables) != sorted(b.observables):
        problems.append(f"observables differ: {sorted(a.observables)} vs {sorted(b.observables)}")
    for field in ("times", "counts"):
        if not np.array_equal(getattr(a, field), getattr(b, field)):
            problems.append(f"{field} differ: {getattr(a, field).tolist()} vs {getattr(b, field).tolist()}")
    if a.diverged != b.diverged:
        problems.append(f"blown-up paths differ: {a.diverged} vs {b.diverged}")
    for name in sorted(set(a.observables) & set(b.observables)):
        for part in ("mean", "stderr"):
            x, y = getattr(a.observables[name], part), getattr(b.observables[name], part)
            if x.shape != y.shape:
                problems.append(f"{part} of {name!r} has shape {x.shape} vs {y.shape}")
            elif not np.array_equal(x, y, equal_nan=True):
                index = np.argwhere(~((x == y) | (np.isnan(x) & np.isnan(y))))
                k = tuple(index[0])
                where = f"t = {a.times[k[0]]:g}" + "".join(f", component {i}" for i in k[1:])
                problems.append(f"{part} of {name!r} differs in {len(index)} of {x.size} entries; first at {where}: "
                                f"{float(x[k])!r} vs {float(y[k])!r} (difference {x[k] - y[k]:.3g})")
    if problems:
        raise AssertionError(f"{_label(a)} (seed {a.seed}) and {_label(b)} (seed {b.seed}) on {a.problem['name']} "
                             "are not bit-for-bit identical:\n  " + "\n  ".join(problems))


def assert_weak_order(study_or_errors, expected: float = 1.0, *, precision: float = ORDER_PRECISION,
                      confidence: float = ORDER_CONFIDENCE, test: str | None = None, l=None, stderr=None):
    """Assert that weak order ``expected`` is confirmed: the rule of every study and claim.

    Confirmed means the ``confidence`` interval for p in e(l) = C₁ l^{−p} + C₂ l^{−p−1}
    contains ``expected`` and is at most ``precision`` wide either side (`fit_order`).
    ``study_or_errors`` is a `Study` (the fit of test function ``test``, default its
    first) or an `OrderFit`, both refitted by this rule, or the weak errors e(l)
    themselves with ``l`` and ``stderr`` (standard errors, one for all, a covariance
    matrix, or zeros for exact values).  The assertion fails both when the order is wrong
    (rejected) and when the study is too noisy to tell (inconclusive), and the message says
    which and why; standard errors that are 0 at some l and not others, or a covariance
    that is not positive definite, fail too (every path gave one value: noise shared or
    missing).  Returns the `OrderFit`.

    False alarms: at the paths per level that `sdesim.testing.power.weak_order_paths_needed`
    names (power 0.99; about 10⁶ for SVAG on ``linear_regression(dim=2)`` at η = 0.1,
    l = 2…64), a correct order fails in about 0.4% of runs: rejected in 0.2%, every one by
    the floor test (e∞ more than 3 standard errors from 0: 0.27% whatever the confidence),
    and inconclusive in 0.2% (34 of 8000 fresh noises on four exact error sequences,
    benchmarks/RESULTS.md section 13).  With fewer paths it is inconclusive, which fails
    too, far more often.  Exact errors (no noise) have no false alarms.
    """
    if isinstance(expected, bool) or not isinstance(expected, numbers.Real) or not np.isfinite(expected):
        raise ValueError(f"expected (the weak order to confirm) must be a finite number, got {expected!r}")
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    table = ""
    if isinstance(study_or_errors, Study):
        study = study_or_errors
        if l is not None or stderr is not None:
            raise ValueError("l and stderr are read from the study; pass them only with raw errors")
        test = study.test_functions[0] if test is None else test
        if test not in study.fits:
            raise ValueError(f"the study has no test function {test!r}; it has {list(study.fits)}")
        what = (f"weak order of {study.method} against the SDE on {study.problem['name']} (test function {test}, "
                f"reference {study.references[test]})")
        table = "\n".join(f"  l = {r.l:>4}: e = {r.error:.4g} ± {r.stderr:.2g}" for r in study.rows_for(test))
        source = study.fits[test]
        fit = _judge_order(what, table, source.l, source.covariance, lambda: refit(source, **rule))
    elif isinstance(study_or_errors, OrderFit):
        if l is not None or stderr is not None or test is not None:
            raise ValueError("an OrderFit is already fitted; pass l, stderr or test only with a study or raw errors")
        what, source = "weak order", study_or_errors
        fit = _judge_order(what, "", source.l, source.covariance, lambda: refit(source, **rule))
    else:
        if l is None or stderr is None:
            raise ValueError("with raw weak errors, pass l= (the l values) and stderr= (their standard errors, "
                             "zeros for exact values)")
        errors, l_arr, se = _array("errors", study_or_errors), _array("l", l), _array("stderr", stderr)
        if not (errors.ndim == l_arr.ndim == 1 and errors.shape == l_arr.shape):
            raise ValueError(f"errors and l must be 1-d of one length, got shapes {errors.shape}, {l_arr.shape}")
        if se.ndim == 0:
            se = np.full(l_arr.shape, float(se))
        if se.shape not in (l_arr.shape, (l_arr.size, l_arr.size)) or np.any(np.diag(se) < 0 if se.ndim == 2 else se < 0):
            raise ValueError(f"stderr must be >= 0: one number, one per l (shape {l_arr.shape}) or a covariance "
                             f"matrix (shape {(l_arr.size, l_arr.size)}), got {np.asarray(stderr).tolist()}")
        what = "weak order"
        table = "\n".join(f"  l = {li:>4g}: e = {ei:.4g}" + (f" ± {si:.2g}" if se.ndim == 1 else "")
                          for li, ei, si in zip(l_arr, errors, np.broadcast_to(se if se.ndim == 1 else 0.0,
                                                                               l_arr.shape)))
        fit = _judge_order(what, table, l_arr, se, lambda: fit_order(l_arr, errors, se, **rule))
    if fit.kind == "confirmed":
        return fit
    message = f"{what}: order {expected:g} is {fit.kind}, not confirmed\n  verdict: {fit.verdict}"
    raise AssertionError(message + ("\n" + table if table else ""))


def _judge_order(what: str, table: str, l, stderr, fit):
    """``fit()``, or an AssertionError where the errors cannot be judged: standard errors 0 at some l only,
    or a covariance that is not positive definite (every path gave one value: shared or missing noise)."""
    cov = np.diag(np.asarray(stderr, float) ** 2) if np.ndim(stderr) == 1 else np.asarray(stderr, float)
    variances = np.diag(cov)
    why = None
    if np.any(variances == 0) and np.any(variances > 0):
        why = f"the standard errors are 0 at l = {np.asarray(l)[variances == 0].tolist()} and > 0 elsewhere"
    elif np.all(variances > 0) and np.all(np.isfinite(cov)):
        try:
            np.linalg.cholesky(0.5 * (cov + cov.T))
        except np.linalg.LinAlgError:
            why = "the covariance matrix of the errors is not positive definite"
    if why is None:
        return fit()
    raise AssertionError(f"{what} cannot be judged: {why}; a Monte Carlo error of 0 means every path gave the same "
                         "value (noise shared by all paths, or none)" + ("\n" + table if table else ""))


def assert_one_step_moments(problem, l=(1, 4), *, x=None, lr: float = 0.1, paths: int = 100_000, seed: int = 0,
                            methods=None, orders=(1, 2, 3), sigmas: float = DEFAULT_SIGMAS, atol: float = ROUNDING,
                            step=None, noise_factor=None):
    """Assert the one-step moments of SVAG (Lemma 4.7) and of the SDE (Lemma 4.6) at x match their exact values.

    Runs `moment_checks`: ``paths`` one-step
    increments Δ from ``x`` (default the problem's start point) for each l, whose raw
    moments E Δ, E ΔΔᵀ, E Δ^{⊗3} (``orders``) must match the exact ones entry by
    entry.  ``methods``: ``"svag"`` and, where the SDE has a closed form, ``"sde"``
    (default: all that apply).  Returns the `MomentCheck`.

    ``step``: YOUR code instead of sdesim's kernel, ``step(x, rng) -> next x`` on an array
    (paths, d), one small SVAG step η/l with the one integer ``l`` (``seed``: an int or a
    `numpy.random.Generator`); ``noise_factor``: the square root F of the noise covariance
    (F Fᵀ = S) it draws with, ``"symmetric"``, ``"cholesky"`` or F, which E Δ^{⊗3} depends on
    (`sdesim.testing.outside_steps`).

    False alarms: at most n·erfc(k/√2) for n compared entries (5.7·10⁻⁷ per entry at
    k = 5) once ``paths`` ≥ 10⁵; fewer samples raise the rate of E Δ^{⊗3} with skewed
    noise far above it (`sdesim.estimators.moment_checks`).
    """
    orders = tuple(orders)
    if not orders or any(o not in (1, 2, 3) for o in orders):
        raise ValueError(f"orders must be a non-empty subset of (1, 2, 3), got {orders!r}")
    if step is not None or noise_factor is not None:
        if methods not in (None, "svag", ("svag",)) or step is None:
            raise ValueError("step= checks your SVAG step against Lemma 4.7 (methods 'svag' only), and "
                             "noise_factor= goes with step=")
        from sdesim.testing.outside_steps import assert_step_moments
        return assert_step_moments(problem, step, l=l, x=x, lr=lr, paths=paths, seed=seed, orders=orders,
                                   noise_factor=noise_factor, sigmas=_sigmas(sigmas), atol=_atol(atol))
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an sdesim Problem (see sdesim.problems), got {type(problem).__name__}")
    sigmas, atol = _sigmas(sigmas), _atol(atol)
    l_values = [l] if np.ndim(l) == 0 else list(l)
    if not l_values:
        raise ValueError("l must be an integer >= 1 or a non-empty list of them")
    available = ("svag", "sde") if problem.has_exact_sde else ("svag",)
    methods = available if methods is None else tuple([methods] if isinstance(methods, str) else methods)
    for m in methods:
        if m not in ("svag", "sde"):
            raise ValueError(f"unknown method {m!r}; one-step moments are checked for 'svag' and 'sde'")
        if m not in available:
            raise ValueError(f"the SDE of problem {problem.name!r} has no closed-form one-step law, so its moments "
                             "cannot be checked; use methods=('svag',)")
    check = moment_checks(problem, x=x, lr=lr, l_values=l_values, paths=paths, seed=seed, remainder_l=())
    names = {1: "E Δ", 2: "E ΔΔᵀ", 3: "E Δ^{⊗3}"}
    failures = []
    for row in check.rows:
        if row["method"] not in methods or row["order"] not in orders:
            continue
        lemma = "Lemma 4.7" if row["method"] == "svag" else "Lemma 4.6"
        header = (f"{names[row['order']]} of one {row['method']} step (l = {row['l']}, {lemma}) on {problem.name} "
                  f"at x = {np.round(check.x, 4).tolist()}, lr = {lr:g}, {paths} samples")
        exact = np.asarray(row["exact"])
        try:
            _compare(row["estimate"], row["stderr"], exact, 0.0, sigmas=sigmas, atol=atol,
                     labels=_where_names(exact.shape, names[row["order"]], None),
                     what="sampled", against="exact", header=header)
        except AssertionError as failure:
            failures.append(str(failure))
    if failures:
        raise AssertionError("\n".join(failures))
    return check
