"""Weak-error studies: e(l) = max_k |E g(x_k^{l}) − E g(X_{kη})| over a sweep of l (Definition 4.2, Theorem 4.3).

The paper's weak error is the largest gap over every effective step k ≤ T/η.  The study
records every effective step (``error="max_over_steps"``, the default) and takes the
maximum without biasing it upward (`sdesim.estimators.study_rows`): exact values give the
maximum itself; in Monte Carlo the step is chosen on paths independent of those that
estimate it.

``error="at_time"`` takes the signed gap at t = T instead.

The order p in e(l) ≈ C₁ l^{−p} + C₂ l^{−p−1} (+ C₃ l^{−p−2}) is fitted by `fit_order` over a range of l
fixed before the run (``fit_from``; a test with an extrapolated reference leaves out the two
finest levels), with the full covariance of the errors (a Monte Carlo reference shared by all
levels correlates them), and judged ``confirmed``, ``rejected`` or ``inconclusive``.

Where each E g(X_t) comes from is chosen test by test (`sdesim.estimators.references`);
how each E g(x_k) is estimated, with control variates in the open, is in
`sdesim.estimators.levels`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sdesim._checks import check_memory, choice, positive_float, positive_int
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.levels import (CV_ALARM, PARTS, QUADRATIC_TESTS, control_count, estimate_levels,
                                      halves_block_size, scalar_tests)
from sdesim.estimators.float32_rounding import rounding_warnings
from sdesim.estimators.order import check_confidence, check_precision, fit_order
from sdesim.estimators import study_warnings
from sdesim.estimators.record import user_functions
from sdesim.estimators.references import check_reference, plan_references
from sdesim.estimators.sde_terms import study_clock
from sdesim.estimators.study import Study
from sdesim.estimators.sweep_arguments import (check_fit_range, error_kind, fit_levels,
                                              horizon_steps, l_values_of)
from sdesim.estimators.study_rows import RESOLVED_Z, Row, rows_and_fit
from sdesim.estimators.test_functions import EXTRA_TESTS, check_tests
from sdesim.kernels.precision import check_dtype
from sdesim.kernels.stats import BlockStats
from sdesim.methods import METHOD_TABLE, plan as step_plan
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable
from sdesim.rng.versions import stream_version as check_stream_version
from sdesim.simulate import BUILTIN_OBSERVABLES, observable_layout

DEFAULT_L = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_ADAPTIVE_L = (1, 2, 4, 8)   # level l of an adaptive method takes l² small steps per effective step
SWEEP_METHODS = ("svag", "sde", "rmsprop", "adam", "paper_rmsprop", "rmsprop_sde", "adam_sde", "paper_rmsprop_sde")
MIN_PATHS = 100                 # Monte Carlo paths per level: standard errors to trust, 50 in each half
MEMORY_LIMIT = 4 * 2**30        # bytes of block statistics a study may hold
DEFAULT_EULER_FACTOR = 8        # reference 'euler': its step this many times finer than the finest level's


# --- the study's record ------------------------------------------------------------------------

def _recorded_steps(steps: int, kind: str) -> np.ndarray:
    return np.arange(1, steps + 1, dtype=np.int64) if kind == "max_over_steps" else np.array([steps], np.int64)


def _describe_reference(reference) -> str:
    if not callable(reference):
        return reference
    module, name = getattr(reference, "__module__", None), getattr(reference, "__qualname__", repr(reference))
    return f"callable {module}:{name}" if module else f"callable {name}"


# --- the study ------------------------------------------------------------------------------------

def weak_error_study(problem: Problem, *, lr: float | None = None, time: float = 1.0, tests=("norm2",),
                     user_tests=None, l_values=DEFAULT_L, method: str | None = None, reference="auto",
                     exact: bool = False, paths: int = 100_000, seed: int = 0, x0=None,
                     error: str = "max_over_steps", expected: float | None = None, precision: float = 0.1,
                     confidence: float = 0.95, fit_from: int = 2, control_variates: bool = True,
                     euler_factor: int | None = None, client=None, progress: bool = False, block_size: int = 1024,
                     hyperparameters=None, dt: float | None = None, dtype: str = "float64",
                     stream_version: int = 1) -> Study:
    """Estimate e(l) for each test function and l, fit the order p and judge order ``expected``.

    ``method``: ``"svag"`` or ``"sde"`` (Euler with step η/l) against the SDE of eq. (2); or an
    adaptive method, ``"rmsprop"``, ``"adam"``, ``"paper_rmsprop"`` (the 2022 paper's SVAG) or its
    ``_sde`` (Euler with step η²/l²), against the adaptive SDE, with ``hyperparameters`` (beta1,
    beta2, eps, bias_correction, v0) and time t = kη²; their reference is ``"euler"`` (``"auto"``)
    or ``"extrapolation"`` (Richardson for order 1: biased where the order is higher), since the
    adaptive SDEs have no closed form, and they have no control variates (their moments do not
    close).

    ``tests`` names built-in test functions; ``user_tests`` maps names to your own compiled
    functions of x (a vector-valued one gives one row per component).  ``reference`` is
    ``"auto"``, ``"exact"``, ``"extrapolation"``, ``"euler"`` or a callable
    ``exact(name, times)`` returning E g(X_t) for the test called ``name`` (None for a test it
    has no value for); ``euler_factor`` (default 8, refused without an Euler reference): the Euler
    reference's step is that many times finer than the finest level's.  ``expected``: the order to judge, by default the method's declared
    ``weak_order`` (`sdesim.methods.METHOD_TABLE`).  ``error``: ``"max_over_steps"`` (the paper's, Definition 4.2) or
    ``"at_time"``.  The verdict is ``confirmed`` when the ``confidence`` interval of p
    contains ``expected`` and is at most ``precision`` wide either side.  ``fit_from``: the
    smallest l in the fit, fixed before the run (a range that holds no level of the sweep is refused;
    default 2: l = 1, SGD itself, is the most
    pre-asymptotic level, and with the maximum over steps its step of largest gap often
    differs from the finer levels', which puts a kink in e(l)).  ``exact=True`` uses the exact
    moment engine (no Monte Carlo); ``client`` is a ``dask.distributed.Client`` or a
    scheduler address.  ``lr`` is 0.1 and ``method`` svag when not given.

    An SDE in its own terms (`sdesim.problems.sde`) takes ``dt`` = H instead of ``lr``: level l
    is Euler–Maruyama with step H/l (method ``sde``), the maximum is over t = kH, T a multiple of H
    (`sdesim.estimators.sde_terms`).  ``dtype``: the levels' floating-point type (``"float32"``: each
    row is checked against float32's rounding bound, `sdesim.estimators.float32_rounding`).
    ``stream_version``: the normal sampler of every level (`sdesim.rng.versions`), recorded.
    Every argument is checked before any path moves.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an sdesim Problem, got {type(problem).__name__}")
    method, lr = study_clock(problem, lr=lr, dt=dt, method=method, hyperparameters=hyperparameters, exact=exact,
                             control_variates=control_variates)
    choice("method", method, SWEEP_METHODS)
    stream_version = check_stream_version(stream_version)
    lr = positive_float("lr (the learning rate η)", lr)
    time = positive_float("time (the horizon T)", time)
    hyperparameters = dict(hyperparameters or {})
    dtype = check_dtype(dtype)
    spec = METHOD_TABLE[method]
    level_one = step_plan(method, lr, 1, **hyperparameters)             # checks the hyperparameters too
    unit = level_one.time_per_step
    steps = horizon_steps(unit, time, "H" if problem.sde_terms else "η²" if spec.adaptive else "η")
    l_values = l_values_of(l_values)
    kind = error_kind(error)
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    fit_from = positive_int("fit_from (the smallest l in the fit)", fit_from)
    check_fit_range(l_values, fit_from, extrapolated=False)
    if expected is None:
        rule["expected"] = spec.weak_order
    user_tests = dict(user_tests or {})
    if isinstance(tests, str):
        tests = (tests,)
    tests = check_tests(tests) if tests or not user_tests else ()
    clash = set(tests) & set(user_tests)
    if clash:
        raise ValueError(f"user test functions {sorted(clash)} have the names of built-in ones; rename them")
    reference = check_reference(reference)
    paths = positive_int("paths", paths)
    euler_given = euler_factor is not None
    euler_factor = positive_int("euler_factor", DEFAULT_EULER_FACTOR if euler_factor is None else euler_factor)
    x0 = problem.start_point(x0)
    ckpts = _recorded_steps(steps, kind)
    times = ckpts * unit
    # user tests are evaluated once at x0 here: wrong signatures, shapes or values fail before any work
    layout = observable_layout(problem, x0, [t for t in tests if t in BUILTIN_OBSERVABLES],
                               {**{t: EXTRA_TESTS[t] for t in tests if t in EXTRA_TESTS}, **user_tests})
    sizes = {t: (stop - start if vector else 0) for t, (start, stop, vector) in layout.slices.items()}
    all_tests = tests + tuple(user_tests)
    common = dict(problem={"name": problem.name, "params": to_jsonable(problem.params)}, method=method, lr=lr,
                  time=time, l_values=l_values, reference=_describe_reference(reference), seed=seed,
                  stream_version=stream_version, x0=x0,
                  recorded_times=times, error_kind=kind,
                  time_scale="dt" if problem.sde_terms else "lr^2" if spec.adaptive else "lr",
                  hyperparameters=hyperparameters, user_functions=user_functions(problem, user_tests, reference),
                  dtype=dtype)

    if spec.adaptive and not level_one.adaptive.bias_correction \
            and not np.any(hyperparameters.get("v0", 0.0)):
        raise ValueError(f"method {method!r} without bias correction from v0 = 0 starts its SDE at u = 0, where the "
                         "noise term's variance grows like 1/t and its integral diverges but for ε₀: SVAG does not "
                         "converge to that SDE at any order (docs/theory/adaptive-sde.md). Give v0 > 0 (for instance "
                         "diag Σ(x0)), or use adam or paper_rmsprop, whose bias correction removes the problem")
    if spec.adaptive and exact:
        raise ValueError(f"exact=True needs moments that close, which method {method!r} does not have (its step "
                         "divides by √v); use Monte Carlo")
    if spec.adaptive and isinstance(reference, str) and reference == "exact":
        raise ValueError(f"reference 'exact' does not exist for method {method!r}: the adaptive SDE has no closed "
                         "form; use 'extrapolation' or 'euler' (or pass a callable with your own exact values)")
    if exact:
        if callable(reference) or reference not in ("auto", "exact"):
            raise ValueError(f"exact=True computes the reference exactly too; reference "
                             f"{_describe_reference(reference)!r} does not apply")
        if euler_given:
            raise ValueError("euler_factor applies only to the Euler–Maruyama reference; exact=True computes the "
                             "reference exactly")
        if dtype != "float64":
            raise ValueError(f"dtype {dtype!r} applies to simulated paths; exact=True draws none (its moments are "
                             "computed in float64)")
        engine = ExactMoments(problem, lr)  # raises if the moments do not close
        higher = [t for t in all_tests if t not in QUADRATIC_TESTS]
        if higher:
            raise ValueError(f"exact moments give first and second moments only; test functions {higher} need "
                             "Monte Carlo (drop exact / --exact)")
        return _exact_study(engine, tests, l_values, x0, ckpts, times, layout, rule, fit_from, common)

    if paths < MIN_PATHS:
        raise ValueError(f"a Monte Carlo study needs at least {MIN_PATHS} paths per level (fewer give no standard "
                         f"error to trust, and the coarsest level's two halves each choose the step of the largest "
                         f"gap for the other), got {paths}")
    plan = plan_references(problem, "euler" if spec.adaptive and reference == "auto" else reference,
                           {t: sizes[t] for t in all_tests}, times, lr, x0)
    early = study_warnings.before_run(problem, lr, reference, plan, _describe_reference)
    kinds = {kind_ for kind_, _ in plan.values()}
    if "extrapolation" in kinds and len(l_values) < 3:
        raise ValueError("reference 'extrapolation' uses the two finest l and needs at least three l values")
    check_fit_range(l_values, fit_from, extrapolated="extrapolation" in kinds)
    if euler_given and "euler" not in kinds:
        raise ValueError(f"euler_factor applies only to the Euler–Maruyama reference (reference 'euler', or 'auto' "
                         f"with an adaptive method); this study's references are {', '.join(sorted(kinds))}")
    use_cv = bool(control_variates) and problem.has_linear_quadratic and not spec.adaptive
    labels = [(method, l, None) for l in l_values]
    if "euler" in kinds:
        finest = l_values[-1] ** 2 if spec.adaptive else l_values[-1]
        sde_method = method if spec.sde else ("sde" if not spec.adaptive else f"{method}_sde")
        labels.append((sde_method, 1, unit / (euler_factor * finest)))
    block_size = halves_block_size(paths, positive_int("block_size", block_size))
    _check_memory(len(labels), paths, block_size, len(ckpts),
                  layout.size + (control_count(problem.dim) if use_cv else 0), use_cv)
    levels, outcome = estimate_levels(problem, labels, all_tests, user_tests, lr=lr, steps=steps, x0=x0,
                                      ckpts=ckpts, paths=paths, seed=seed, use_cv=use_cv, client=client,
                                      progress=progress, block_size=block_size, hyperparameters=hyperparameters,
                                      dtype=dtype, stream_version=stream_version)
    names = scalar_tests(layout.slices, all_tests)
    rows, fits, references, notes, warnings = [], {}, {}, {}, []
    for name, test, j in names:
        ref_kind, values = plan[test]
        references[name] = ref_kind
        ref = _reference(ref_kind, values, j, name, levels, labels, method, l_values, len(ckpts), euler_factor)
        if ref is None:
            break   # interrupted before the reference levels finished
        ref_mean, ref_se, notes[name] = ref
        fit_l = fit_levels(l_values, fit_from, ref_kind == "extrapolation")
        present = {l: levels[(method, l, None)] for l in l_values if (method, l, None) in levels}
        level_rows, fits[name] = rows_and_fit(name, present, fit_l, ref_mean, ref_se, times, kind, rule, fit_from)
        rows += level_rows
        test_rows = [r for r in level_rows if r.l in fit_l]
        warnings += [f"{name}, l = {r.l}: the error {r.error:.3g} is within {RESOLVED_Z:g} standard errors "
                     f"({r.stderr:.2g}) of 0: the Monte Carlo noise floor" for r in test_rows
                     if not r.resolved and math.isfinite(r.error) and math.isfinite(r.stderr)]
        warnings += rounding_warnings(dtype, name, level_rows, steps)
    for label, level in levels.items():   # a diverged level is reported as such, once, and nothing else
        if level.diverged:
            what = (f"{label[0]} l = {label[1]}" if label[2] is None
                    else f"the Euler–Maruyama reference (dt = {label[2]:.4g})")
            warnings.append(f"{what}: {level.diverged} of {level.paths} paths diverged (NaN or inf), so "
                            + ("no weak error is reported for it" if label[2] is None
                               else "no error is reported against it"))
        elif abs(level.cv_residual_z) > CV_ALARM:
            warnings.append(f"{label[0]} l = {label[1]}: a control's plain Monte Carlo mean is "
                            f"{level.cv_residual_z:+.1f} standard errors from its exact value: the kernel and the "
                            "exact moment engine disagree (a bug, or a problem whose moments do not close)")
    interrupted = outcome.interrupted or len(fits) < len(names)
    if interrupted:   # a cut study gives no verdict, and its missing levels are not a noise floor
        finished = ", ".join(str(l) for l in l_values if (method, l, None) in levels) or "none"
        fits = {name: dataclasses.replace(fit, kind="inconclusive", verdict=(
            f"order {fit.expected:g} inconclusive: interrupted (Ctrl-C) after the levels l = {finished}; a study cut "
            "short gives no verdict")) for name, fit in fits.items()}
        warnings = [w for w in warnings if "noise floor" not in w]
    done = [n for n, _, _ in names if n in fits]
    return Study(**common, test_functions=tuple(done), references=references, engine="monte_carlo",
                 control_variates=use_cv, paths=paths, rows=rows, fits=fits, fit_from=fit_from,
                 reference_notes=notes, interrupted=interrupted,
                 warnings=[*early, *warnings, *study_warnings.after_run(levels, times, user_tests)],
                 block_size=block_size)


def _check_memory(n_labels, paths, block_size, n_steps, n_obs, covariance):
    blocks = -(-paths // block_size)
    check_memory(n_labels * BlockStats.nbytes_for(blocks, n_steps, n_obs, covariance),
                 f"this study's statistics ({n_labels} levels × {blocks} blocks of paths × {n_steps} recorded steps)",
                 "Use a larger block_size, fewer paths, or error='at_time' (one recorded step)",
                 cap=MEMORY_LIMIT, cap_name="the most statistics a study may hold")


def _reference(kind, values, component, name, levels, labels, method, l_values, n_steps, euler_factor):
    """(mean, stderr, note) of E g(X) at each recorded step, rows PARTS; None if its levels did not finish."""
    shape = (len(PARTS), n_steps)
    if kind in ("user", "exact"):
        column = values if values.ndim == 1 else values[:, component or 0]
        note = "your callable" if kind == "user" else "closed form"
        return np.broadcast_to(column, shape).copy(), np.zeros(shape), note
    if kind == "extrapolation":
        fine, coarse = levels.get((method, l_values[-1], None)), levels.get((method, l_values[-2], None))
        if fine is None or coarse is None:
            return None
        r = l_values[-1] / l_values[-2]
        f, c = fine.estimates[name], coarse.estimates[name]
        return ((r * f.mean - c.mean) / (r - 1), np.sqrt((r * f.stderr) ** 2 + c.stderr**2) / (r - 1),
                f"Richardson from l = {l_values[-2]}, {l_values[-1]}, which leave the fit")
    level = levels.get(labels[-1])
    if level is None:
        return None
    est = level.estimates[name]
    method_, _, dt = labels[-1]
    if METHOD_TABLE[method_].adaptive:
        note = (f"Euler–Maruyama on the adaptive SDE with dt = η²/{euler_factor * l_values[-1] ** 2} = {dt:.4g}; "
                f"its own O(dt) bias is O(1/({euler_factor}·l²)) at l = {l_values[-1]}")
    else:
        note = (f"Euler–Maruyama with dt = η/{euler_factor * l_values[-1]}; its own O(dt) bias is about "
                f"1/{euler_factor} of the error at l = {l_values[-1]}")
    return est.mean, est.stderr, note


def _exact_study(engine, tests, l_values, x0, ckpts, times, layout, rule, fit_from, common) -> Study:
    """Exact moments of the method at every recorded step against the SDE's moment ODE (no Monte Carlo)."""
    method = common["method"]
    reference = engine.observables(engine.sde_moments(times, x0))
    names = scalar_tests(layout.slices, tests)
    rows = []
    for l in l_values:
        values = engine.observables(engine.method_moments(method, l, ckpts, x0))
        for name, test, j in names:
            value = values[test] if j is None else values[test][:, j]
            ref = reference[test] if j is None else reference[test][:, j]
            gap = value - ref
            k = int(np.argmax(np.abs(gap))) if common["error_kind"] == "max_over_steps" else len(times) - 1
            error = abs(gap[k]) if common["error_kind"] == "max_over_steps" else gap[k]
            rows.append(Row(l, name, 0, float(value[k]), float(ref[k]), float(error), 0.0, float(times[k]),
                            source="exact_moments"))
    fits = {}
    for name, _, _ in names:
        used = [r for r in rows if r.test == name and r.l >= fit_from]
        fits[name] = fit_order([r.l for r in used], [r.error for r in used], [0.0] * len(used), **rule)
    return Study(**common, test_functions=tuple(n for n, _, _ in names),
                 references={n: "exact" for n, _, _ in names}, engine="exact", control_variates=False, paths=0,
                 rows=rows, fits=fits, fit_from=fit_from,
                 reference_notes={n: "the SDE's moment ODE" for n, _, _ in names})
