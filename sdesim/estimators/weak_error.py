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
from dataclasses import dataclass, field

import numpy as np

from sdesim._checks import check_memory, choice, positive_float, positive_int
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.levels import (CV_ALARM, PARTS, QUADRATIC_TESTS, control_count, estimate_levels,
                                      halves_block_size, scalar_tests)
from sdesim.estimators.order import MODEL, OrderFit, check_confidence, check_precision, fit_order
from sdesim.estimators import study_warnings
from sdesim.estimators.record import git_commit, user_functions, versions
from sdesim.estimators.references import check_reference, plan_references
from sdesim.estimators.sde_terms import study_clock
from sdesim.estimators.study_rows import RESOLVED_Z, Row, rows_and_fit
from sdesim.estimators.test_functions import EXTRA_TESTS, check_tests, describe
from sdesim.kernels.stats import BlockStats
from sdesim.methods import METHOD_TABLE, plan as step_plan
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable
from sdesim.rng.versions import stream_version as check_stream_version
from sdesim.simulate import BUILTIN_OBSERVABLES, observable_layout

DEFAULT_L = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_ADAPTIVE_L = (1, 2, 4, 8)   # level l of an adaptive method takes l² small steps per effective step
SWEEP_METHODS = ("svag", "sde", "rmsprop", "adam", "paper_rmsprop", "rmsprop_sde", "adam_sde", "paper_rmsprop_sde")
ERROR_KINDS = ("max_over_steps", "at_time")
MIN_PATHS = 100                 # Monte Carlo paths per level: standard errors to trust, 50 in each half
MEMORY_LIMIT = 4 * 2**30        # bytes of block statistics a study may hold
DEFAULT_EULER_FACTOR = 8        # reference 'euler': its step this many times finer than the finest level's


@dataclass
class Study:
    """A weak-error study: its rows, the fitted order per test function, and the full record."""

    problem: dict
    method: str
    lr: float
    time: float
    test_functions: tuple       # scalar test names ('x' becomes 'x[0]', 'x[1]', …)
    l_values: tuple
    reference: str              # what was asked: auto, exact, extrapolation, euler, or a callable's name
    references: dict            # test → the reference it got: user, exact, extrapolation or euler
    engine: str                 # "exact" (exact moments) or "monte_carlo"
    control_variates: bool
    seed: int
    paths: int
    x0: np.ndarray
    recorded_times: np.ndarray  # the times t = kη over which the maximum is taken (at_time: T alone)
    rows: list
    fits: dict
    error_kind: str = "max_over_steps"
    fit_from: int = 1
    reference_notes: dict = field(default_factory=dict)
    interrupted: bool = False
    warnings: list = field(default_factory=list)
    block_size: int = 1024
    time_scale: str = "lr"       # "lr": effective step k is t = kη; "lr^2" (adaptive methods): t = kη²; "dt": t = kH
    hyperparameters: dict = field(default_factory=dict)
    user_functions: dict = field(default_factory=dict)   # role → {name, sha256} (`sdesim.estimators.record`)
    command: list | None = None  # the argv, when run from the command line
    stream_version: int = 1      # the normal sampler (sdesim.rng.versions); 1 in records without the field

    @property
    def unit(self) -> float:
        """The time of one effective step: η, or η² for the adaptive methods."""
        return self.lr * self.lr if self.time_scale == "lr^2" else self.lr

    def step_size(self, l: int) -> float:
        """The SDE methods' Euler step at level l: η/l, or η²/l² for the adaptive SDEs."""
        return self.unit / (l * l if self.time_scale == "lr^2" else l)

    @property
    def fit(self) -> OrderFit:
        return self.fits[self.test_functions[0]]

    @property
    def order(self) -> float:
        return self.fit.order

    @property
    def order_ci(self) -> tuple:
        return self.fit.ci

    @property
    def verdict(self) -> str:
        return self.fit.verdict

    @property
    def verdict_kind(self) -> str:
        return self.fit.kind

    def _clock(self) -> dict:
        """The record's time unit: ``lr`` (η), or ``dt`` (H) for an SDE in its own terms, whose ``lr`` is null."""
        return {"lr": None, "dt": self.lr} if self.time_scale == "dt" else {"lr": self.lr}

    def rows_for(self, test: str) -> list:
        """The table's rows for test function ``test``, one per level l."""
        return [r for r in self.rows if r.test == test]

    def to_dict(self) -> dict:
        """The study as its JSON record (docs/reference/json.md): settings, rows, fits and verdicts."""
        fit = self.fit
        return to_jsonable({
            "problem": self.problem, "method": self.method, **self._clock(), "time": self.time,
            "steps": int(round(self.time / self.unit)), "time_scale": self.time_scale,
            "hyperparameters": self.hyperparameters, "seed": self.seed, "stream_version": self.stream_version,
            "paths": self.paths, "x0": self.x0,
            "test_functions": list(self.test_functions), "l": list(self.l_values), "reference": self.reference,
            "references": self.references, "reference_notes": self.reference_notes, "engine": self.engine,
            "control_variates": self.control_variates, "error_kind": self.error_kind,
            "recorded_times": self.recorded_times, "fit_from": self.fit_from, "block_size": self.block_size,
            "expected": fit.expected, "precision": fit.precision, "confidence": fit.confidence,
            "order": self.order, "order_ci": list(self.order_ci), "verdict": self.verdict,
            "verdict_kind": self.verdict_kind,
            "fits": {t: {**f.to_dict(), "reference": self.references[t]} for t, f in self.fits.items()},
            "rows": [{"l": r.l, **({"h": self.step_size(r.l)} if METHOD_TABLE[self.method].sde else {}),
                      "test": r.test,
                      "paths": r.paths, "source": r.source, "estimate": r.estimate,
                      "reference_value": r.reference_value, "error": r.error, "stderr": r.stderr, "time": r.time,
                      "times": list(r.times), "resolved": r.resolved, "raw_estimate": r.raw_estimate,
                      "raw_stderr": r.raw_stderr, "cv_residual_z": r.cv_residual_z, "diverged": r.diverged}
                     for r in self.rows],
            "interrupted": self.interrupted, "warnings": self.warnings,
            "command": self.command, "user_functions": self.user_functions, "versions": versions(), "git": git_commit(),
        })

    def table(self) -> str:
        """The study as text: a table per test function, its fit and its verdict."""
        if self.error_kind == "max_over_steps":
            how = (f"largest gap over the {len(self.recorded_times)} effective steps"
                   + ("" if self.engine == "exact" else " (the step picked on paths independent of those "
                      "that estimate it)"))
        else:
            how = f"gap at t = T = {self.time:g}"
        engine = "exact moments" if self.engine == "exact" else (
            "Monte Carlo" + (" with control variates" if self.control_variates else ""))
        what = (f"Euler–Maruyama (step h = H/l) on the SDE {self.problem['name']}, H = {self.lr:g}"
                if self.time_scale == "dt" else f"{self.method} against the SDE on {self.problem['name']}, η = {self.lr:g}")
        lines = [f"weak error of {what}, T = {self.time:g}: {how}; {engine}"]
        for test in self.test_functions:
            lines += ["", self._test_table(test)]
        if self.interrupted:
            lines.append("interrupted: the table holds the levels that finished")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _control_header(self) -> str:
        """The control z column says over how many it is the largest: the controls, at every recorded step."""
        steps = len(self.recorded_times)
        return (f"control z (max of {control_count(len(self.x0))} controls"
                + (f" × {steps} steps)" if steps > 1 else ")"))

    def _test_table(self, test: str) -> str:
        rows = self.rows_for(test)
        note = self.reference_notes.get(test, "")
        sources = {r.source for r in rows}
        head = (f"test function {test}" + (f" = {describe(test)}" if describe(test) != test else "")
                + f": reference {self.references[test]}"
                + (f" ({note})" if note else "")
                + ("; E g(x) exact: in the span of the control variates (plain Monte Carlo shown beside it)"
                   if sources == {"exact_in_span"} else ""))
        sde = METHOD_TABLE[self.method].sde
        header = ["l", *(["h"] if sde else []), "estimate", "reference", "error e(l)", "95% interval", "t of max"]
        plain = self.engine != "exact"
        if plain:
            header += ["plain Monte Carlo", *([self._control_header()] if self.control_variates else [])]
        body = []
        for r in rows:
            if r.diverged:
                interval = f"diverged: {r.diverged} of {r.paths} paths"
            elif r.exact:
                interval = "exact"
            else:
                half = 1.96 * r.stderr
                interval = f"[{r.error - half:.4g}, {r.error + half:.4g}]" + ("" if r.resolved else " within noise")
            when = "/".join(f"{t:g}" for t in (r.times or (r.time,)))
            cells = [str(r.l), *([f"{self.step_size(r.l):.4g}"] if sde else []), f"{r.estimate:.6g}",
                     f"{r.reference_value:.6g}", f"{r.error:.4g}", interval, when]
            if plain:
                cells.append(f"{r.raw_estimate:.6g} ± {r.raw_stderr:.2g}")
                if self.control_variates:
                    cells.append("-" if math.isnan(r.cv_residual_z) else
                                 f"{r.cv_residual_z:+.2f}" + (" !" if abs(r.cv_residual_z) > CV_ALARM else ""))
            body.append(cells)
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
        lines = [head, "  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths)) for b in body]
        fit = self.fits[test]
        lines.append(f"fit {fit.interval_kind} interval of p in {MODEL} over l = "
                     f"{', '.join(str(int(v)) for v in fit.l)}: p = {fit.order:.4g}, [{fit.ci[0]:.4g}, {fit.ci[1]:.4g}]")
        lines.append(f"{fit.kind.upper()}: {fit.verdict}")
        return "\n".join(lines)


# --- arguments ----------------------------------------------------------------------------------

def _horizon(unit: float, time: float, name: str = "η") -> int:
    steps = time / unit
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
        raise ValueError(f"the horizon T = {time:g} is not a whole number of steps of {name} = {unit:g} "
                         f"(T/{name} = {steps:g}); choose T = k{name} for an integer k ≥ 1")
    return int(round(steps))


def _l_values(l_values) -> tuple:
    if isinstance(l_values, (str, bytes)) or not np.iterable(l_values):
        raise ValueError(f"l values must be a list of integers >= 1, got {l_values!r}")
    values = []
    for v in l_values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not float(v).is_integer() or v < 1:
            raise ValueError(f"l values must be integers >= 1, got {v!r}")
        values.append(int(v))
    if len(set(values)) != len(values):
        raise ValueError(f"l values must be distinct, got {list(l_values)}")
    if len(values) < 2:
        raise ValueError("a sweep needs at least two l values")
    return tuple(sorted(values))


def fit_levels(l_values: tuple, fit_from: int, extrapolated: bool = False) -> list:
    """The l values of a fit: those ≥ ``fit_from``, less the two finest when they make the (extrapolated) reference."""
    return [l for l in l_values if l >= fit_from and not (extrapolated and l in l_values[-2:])]


def _check_fit_range(l_values: tuple, fit_from: int, extrapolated: bool) -> None:
    """Refuse, before any work, a fit range that holds no level of the sweep."""
    if fit_levels(l_values, fit_from, extrapolated):
        return
    listed = ", ".join(map(str, l_values))
    if not extrapolated or fit_from > l_values[-1]:
        raise ValueError(f"fit_from = {fit_from} is above every l of the sweep ({listed}): the fit would have no "
                         f"level; give fit_from at most {l_values[-1]}, or add larger l values")
    raise ValueError(f"reference 'extrapolation' takes the two finest l ({l_values[-2]}, {l_values[-1]}) out of the "
                     f"fit, which leaves no l ≥ fit_from = {fit_from} of the sweep ({listed}) to fit; add l values "
                     f"above {l_values[-1]}, or lower fit_from to at most {l_values[-3] if len(l_values) > 2 else 1}, "
                     "or use another reference")


def error_kind(value: str) -> str:
    """'max_over_steps' or 'at_time' (hyphens allowed, as on the command line)."""
    value = value.replace("-", "_") if isinstance(value, str) else value
    return choice("error", value, ERROR_KINDS)


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
                     hyperparameters=None, dt: float | None = None, stream_version: int = 1) -> Study:
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
    (`sdesim.estimators.sde_terms`).  ``stream_version``: the normal sampler of every level
    (`sdesim.rng.versions`), recorded.  Every argument is checked before any path moves.
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
    spec = METHOD_TABLE[method]
    level_one = step_plan(method, lr, 1, **hyperparameters)             # checks the hyperparameters too
    unit = level_one.time_per_step
    steps = _horizon(unit, time, "H" if problem.sde_terms else "η²" if spec.adaptive else "η")
    l_values = _l_values(l_values)
    kind = error_kind(error)
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    fit_from = positive_int("fit_from (the smallest l in the fit)", fit_from)
    _check_fit_range(l_values, fit_from, extrapolated=False)
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
                  hyperparameters=hyperparameters, user_functions=user_functions(problem, user_tests, reference))

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
    _check_fit_range(l_values, fit_from, extrapolated="extrapolation" in kinds)
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
                                      stream_version=stream_version)
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
