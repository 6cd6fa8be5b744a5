"""Weak-error studies: e(l) = max_k |E g(x_k^{SVAG,l}) − E g(X_{kη})| over a sweep of l (Theorem 4.3).

For Monte Carlo the checkpoint of e(l) is the one where the error at the smallest l
is largest, used for every l (re-selecting it at each l would select on noise);
for exact moments it is the true maximum.

For each l the estimate E g(x^{l}) comes from the exact moment engine (quadratic g on
linear-quadratic problems: no noise at all) or from Monte Carlo, where control
variates make it cheap: on linear-quadratic problems the exact means of x and of
the x_i x_j are known for every method and l, so

    ĝ_cv = ḡ − βᵀ(h̄ − E h),   β = Ĉov(h)⁻¹ Ĉov(h, g),   h = (x_i, x_i x_j),

has the same mean as ḡ (up to an O(1/N) term from estimating β in-sample) and the
variance of the part of g that h does not explain.

The reference E g(X) is, in this order of preference: ``exact`` (the closed-form
SDE, or the exact moment ODE), ``extrapolation`` (Richardson in l: with e(l) ≈ C/l,
E g(X) ≈ (r ĝ(L) − ĝ(L/r)) / (r − 1) from the two finest levels, which then leave
the fit), or ``euler`` (Euler–Maruyama with a step ``euler_factor`` times finer
than the finest level; its own O(dt) bias is stated).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

import numba
import numpy as np

import sdesim
from sdesim._checks import choice, positive_float, positive_int
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.order import OrderFit, fit_order
from sdesim.estimators.test_functions import EXTRA_TESTS, check_tests, gaussian_norm4, second_moments
from sdesim.executors import connect, execute, split
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable
from sdesim.simulate import BUILTIN_OBSERVABLES, Run

DEFAULT_L = (1, 2, 4, 8, 16, 32, 64)
REFERENCES = ("auto", "exact", "extrapolation", "euler")
SWEEP_METHODS = ("svag", "sde")


@dataclass(frozen=True)
class Row:
    """One point of the study: the weak error of one test function at one l."""

    l: int
    test: str
    paths: int
    estimate: float          # E g(x^l) at the checkpoint of largest error
    reference_value: float   # E g(X) there
    error: float             # estimate − reference_value
    stderr: float            # of the error (estimate and reference combined); 0 for exact moments
    time: float              # the checkpoint (time t = kη) where |error| is largest
    diverged: int = 0

    @property
    def resolved(self) -> bool:
        return self.stderr == 0 or abs(self.error) > 3 * self.stderr


@dataclass
class Study:
    """A weak-error study: its rows, the fitted order per test function, and the full record."""

    problem: dict
    method: str
    lr: float
    time: float
    test_functions: tuple
    l_values: tuple
    reference: str
    engine: str
    control_variates: bool
    seed: int
    paths: int
    x0: np.ndarray
    checkpoint_times: np.ndarray
    rows: list
    fits: dict
    reference_note: str = ""
    interrupted: bool = False
    warnings: list = field(default_factory=list)

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

    def rows_for(self, test: str) -> list:
        return [r for r in self.rows if r.test == test]

    def to_dict(self) -> dict:
        return to_jsonable({
            "problem": self.problem, "method": self.method, "lr": self.lr, "time": self.time,
            "steps": int(round(self.time / self.lr)), "seed": self.seed, "paths": self.paths, "x0": self.x0,
            "test_functions": list(self.test_functions), "l": list(self.l_values), "reference": self.reference,
            "reference_note": self.reference_note, "engine": self.engine, "control_variates": self.control_variates,
            "checkpoint_times": self.checkpoint_times,
            "order": self.order, "order_ci": list(self.order_ci), "verdict": self.verdict,
            "fits": {t: {"order": f.order, "order_ci": list(f.ci), "constant": f.constant, "verdict": f.verdict,
                         "local_slopes": f.local_slopes, "reduced_chi2": f.reduced_chi2} for t, f in self.fits.items()},
            "rows": [{"l": r.l, "test": r.test, "paths": r.paths, "estimate": r.estimate,
                      "reference_value": r.reference_value, "error": r.error, "stderr": r.stderr,
                      "time": r.time, "resolved": r.resolved, "diverged": r.diverged} for r in self.rows],
            "interrupted": self.interrupted, "warnings": self.warnings,
            "versions": {"sdesim": sdesim.__version__, "numpy": np.__version__, "numba": numba.__version__,
                         "python": platform.python_version()},
        })

    def table(self) -> str:
        lines = [f"weak error of {self.method} against the SDE on {self.problem['name']}, lr={self.lr:g}, "
                 f"T={self.time:g}, reference: {self.reference}"
                 + (f" ({self.reference_note})" if self.reference_note else "")
                 + f", {'exact moments' if self.engine == 'exact' else 'Monte Carlo'}"
                 + (" with control variates" if self.control_variates else "")]
        for test in self.test_functions:
            lines.append("")
            lines.append(f"test function {test}")
            header = ("l", "paths", "estimate", "reference", "error", "95% interval")
            body = []
            for r in self.rows_for(test):
                half = 1.96 * r.stderr
                flag = "" if r.resolved else "  (within noise)"
                body.append((str(r.l), str(r.paths), f"{r.estimate:.6g}", f"{r.reference_value:.6g}",
                             f"{r.error:.4g}", f"[{r.error - half:.4g}, {r.error + half:.4g}]{flag}"))
            widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
            lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
            lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths)) for b in body]
            fit = self.fits[test]
            if self.engine == "exact" or all(r.stderr == 0 for r in self.rows_for(test)):
                lines.append(f"order p = {fit.order:.3f} (local slope at the finest l; the finest three "
                             f"local slopes span [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}])")
            else:
                lines.append(f"fitted order p = {fit.order:.3f}, 95% interval [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}]")
            lines.append(fit.verdict)
        if self.interrupted:
            lines.append("interrupted: the table holds the points that finished")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _horizon(lr: float, time: float) -> int:
    steps = time / lr
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
        raise ValueError(f"the horizon T = {time:g} is not a whole number of steps of η = {lr:g} "
                         f"(T/η = {steps:g}); choose T = kη for an integer k ≥ 1")
    return int(round(steps))


def _l_values(l_values) -> tuple:
    values = []
    for v in l_values:
        if isinstance(v, bool) or not float(v).is_integer() or v < 1:
            raise ValueError(f"l values must be integers >= 1, got {v!r}")
        values.append(int(v))
    if len(set(values)) != len(values):
        raise ValueError(f"l values must be distinct, got {list(l_values)}")
    if len(values) < 2:
        raise ValueError("a sweep needs at least two l values")
    return tuple(sorted(values))


def _checkpoints(steps: int, n: int) -> np.ndarray:
    n = positive_int("checkpoints", n)
    return np.unique(np.rint(np.arange(1, n + 1) * steps / n).astype(np.int64))


def _exact_reference_available(problem: Problem, tests) -> str | None:
    """None if every test has an exact SDE value on this problem, else why not."""
    if problem.has_exact_sde:
        return None
    if problem.linear_quadratic is None:
        return f"problem {problem.name!r} has neither a closed-form SDE nor closed moments"
    higher = [t for t in tests if t in EXTRA_TESTS]
    if higher:
        return (f"test functions {higher} need more than two moments, and the SDE of {problem.name!r} is not "
                "Gaussian, so only its first two moments are exact")
    return None


def _exact_sde_values(problem: Problem, lr, tests, times, x0) -> dict:
    """E g(X_t) for each test at each time: (times,) or (times, d) arrays."""
    if problem.has_exact_sde:
        sde = problem.exact_sde
        per_time = []
        for t in times:
            values = sde.observables(t, x0, lr)
            values["norm4"] = gaussian_norm4(sde.mean(t, x0), sde.cov(t, lr))
            per_time.append(values)
        return {test: np.array([v[test] for v in per_time]) for test in tests}
    engine = ExactMoments(problem, lr)
    values = engine.observables(engine.sde_moments(times, x0))
    return {test: values[test] for test in tests}


def _largest(estimate, reference, stderr, times, at=None):
    """(estimate, reference, error, stderr, time, where) at the checkpoint/component of largest |error|,
    or at the given ``at`` = (checkpoint, component)."""
    est, ref, se = (np.asarray(a, float).reshape(len(times), -1) for a in (estimate, reference, stderr))
    err = est - ref
    k, j = np.unravel_index(np.nanargmax(np.abs(err)), err.shape) if at is None else at
    return float(est[k, j]), float(ref[k, j]), float(err[k, j]), float(se[k, j]), float(times[k]), (k, j)


def weak_error_study(problem: Problem, *, lr: float = 0.1, time: float = 1.0, tests=("norm2",),
                     user_tests=None, l_values=DEFAULT_L, method: str = "svag", reference: str = "auto",
                     exact: bool = False, paths: int = 100_000, seed: int = 0, x0=None, checkpoints: int = 4,
                     control_variates: bool = True, euler_factor: int = 8, client=None, progress: bool = False,
                     block_size: int = 1024) -> Study:
    """Estimate e(l) for each test function and l, and fit the order p in e(l) ≈ C l^{−p}.

    ``tests`` names built-in test functions; ``user_tests`` maps names to your own
    compiled functions of x (their SDE values come from extrapolation or Euler).
    Every argument is checked before any path moves.  ``exact=True`` uses the exact
    moment engine (no Monte Carlo); ``client`` is a ``dask.distributed.Client`` or a
    scheduler address, to run the Monte Carlo tasks on a cluster.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an sdesim Problem, got {type(problem).__name__}")
    choice("method", method, SWEEP_METHODS)
    lr = positive_float("lr (the learning rate η)", lr)
    time = positive_float("time (the horizon T)", time)
    steps = _horizon(lr, time)
    l_values = _l_values(l_values)
    user_tests = dict(user_tests or {})
    tests = check_tests(tests) if tests or not user_tests else ()
    clash = set(tests) & set(user_tests)
    if clash:
        raise ValueError(f"user test functions {sorted(clash)} have the names of built-in ones; rename them")
    all_tests = tests + tuple(user_tests)
    choice("reference", reference, REFERENCES)
    paths = positive_int("paths", paths)
    euler_factor = positive_int("euler_factor", euler_factor)
    x0 = problem.start_point(x0)
    ckpts = _checkpoints(steps, checkpoints)
    times = ckpts * lr

    if exact:
        if reference not in ("auto", "exact"):
            raise ValueError(f"--exact computes the reference exactly too; reference {reference!r} does not apply")
        engine = ExactMoments(problem, lr)  # raises if the moments do not close
        higher = [t for t in all_tests if t in EXTRA_TESTS or t in user_tests]
        if higher:
            raise ValueError(f"exact moments give first and second moments only; test functions {higher} need "
                             "Monte Carlo (drop --exact)")
        return _exact_study(problem, engine, method, lr, time, tests, l_values, x0, ckpts, times, seed)

    if reference == "auto":
        reference = ("exact" if _exact_reference_available(problem, tests) is None and not user_tests
                     else "extrapolation")
    if reference == "exact":
        why = (f"user test functions {sorted(user_tests)} have no exact SDE values" if user_tests
               else _exact_reference_available(problem, tests))
        if why is not None:
            raise ValueError(f"reference 'exact' does not exist here: {why}; use 'extrapolation' or 'euler'")
    if reference == "extrapolation" and len(l_values) < 3:
        raise ValueError("reference 'extrapolation' uses the two finest l and needs at least three l values")
    use_cv = bool(control_variates) and problem.linear_quadratic is not None

    labels = [(method, l, None) for l in l_values]
    if reference == "euler":
        labels.append(("sde", 1, lr / (euler_factor * l_values[-1])))
    tests = all_tests
    estimates, outcome = estimate_levels(problem, labels, tests, user_tests, lr=lr, steps=steps, x0=x0,
                                         ckpts=ckpts, paths=paths, seed=seed, use_cv=use_cv, client=client,
                                         progress=progress, block_size=block_size)
    warnings = []
    note = ""
    if reference == "exact":
        exact_values = _exact_sde_values(problem, lr, tests, times, x0)
        ref = {t: (exact_values[t], np.zeros_like(exact_values[t], dtype=float)) for t in tests}
        fit_l = l_values
    elif reference == "extrapolation":
        fine, coarse = (method, l_values[-1], None), (method, l_values[-2], None)
        if fine not in estimates or coarse not in estimates:
            raise KeyboardInterrupt("interrupted before the reference levels finished")
        r = l_values[-1] / l_values[-2]
        ref = {}
        for t in tests:
            (gf, sf), (gc, sc) = estimates[fine][t], estimates[coarse][t]
            ref[t] = ((r * gf - gc) / (r - 1), np.sqrt((r * sf) ** 2 + sc**2) / (r - 1))
        fit_l = l_values[:-2]
        note = f"Richardson from l = {l_values[-2]}, {l_values[-1]}, which leave the fit"
    else:
        label = labels[-1]
        if label not in estimates:
            raise KeyboardInterrupt("interrupted before the Euler reference finished")
        ref = {t: estimates[label][t] for t in tests}
        fit_l = l_values
        note = (f"Euler–Maruyama with dt = η/{euler_factor * l_values[-1]}; its own O(dt) bias is about "
                f"1/{euler_factor} of the error at l = {l_values[-1]}")

    rows, fits = [], {}
    for test in tests:
        test_rows, at = [], None
        for l in l_values:
            label = (method, l, None)
            if label not in estimates:
                continue
            g, se = estimates[label][test]
            rv, rse = ref[test]
            # the checkpoint is chosen once, where the coarsest l's error is largest: choosing it
            # anew at each l would select on noise and bias small errors upward
            est, refv, err, s, t_max, at = _largest(g, rv, np.sqrt(se**2 + rse**2), times, at)
            row = Row(l, test, paths, est, refv, err, s, t_max, outcome.stats[label].diverged)
            rows.append(row)
            if l in fit_l:
                test_rows.append(row)
            if not row.resolved and l in fit_l:
                warnings.append(f"{test}, l={l}: the error {err:.3g} is within 3 standard errors ({s:.2g}) of 0; "
                                "the error bars swallow the signal here")
        fits[test] = fit_order([r.l for r in test_rows], [r.error for r in test_rows],
                               [r.stderr for r in test_rows], diverged=[r.diverged for r in test_rows])
    return Study(problem={"name": problem.name, "params": to_jsonable(problem.params)}, method=method, lr=lr,
                 time=time, test_functions=tests, l_values=l_values, reference=reference, engine="monte_carlo",
                 control_variates=use_cv, seed=seed, paths=paths, x0=x0, checkpoint_times=times, rows=rows,
                 fits=fits, reference_note=note, interrupted=outcome.interrupted, warnings=warnings)


def estimate_levels(problem, labels, tests, user_tests, *, lr, steps, x0, ckpts, paths, seed, use_cv, client=None,
                    progress=False, block_size=1024):
    """Monte Carlo E g at each checkpoint for each (method, l, dt) label, with standard errors.

    Returns ({label: {test: (mean, stderr)}}, the executor's outcome).  Each label gets
    its own independent streams, derived from ``seed`` and its position in ``labels``.
    """
    builtin = [t for t in tests if t in BUILTIN_OBSERVABLES]
    observables = list(dict.fromkeys(builtin + (["x"] if use_cv else [])))
    user = {t: EXTRA_TESTS[t] for t in tests if t in EXTRA_TESTS}
    user.update(user_tests or {})
    if use_cv:
        user["second_moments"] = second_moments
    common = dict(lr=lr, steps=steps, x0=x0, checkpoints=ckpts, observables=observables,
                  user_observables=user, block_size=block_size, covariance=use_cv)
    runs, tasks = {}, []
    for i, label in enumerate(labels):
        m, l, dt = label
        # independent streams per level, so that the points of a fit are independent
        level_seed = int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0] >> np.uint64(1))
        settings = dict(common, l=l, seed=level_seed)
        if m == "sde":
            settings["dt"] = dt
        runs[label] = Run(problem, m, **settings)
        tasks += split(label, runs[label], dict(settings, method=m), paths)
    outcome = execute(problem, tasks, runs, client=connect(client), progress=progress, desc="paths")
    engine = ExactMoments(problem, lr) if use_cv else None
    return {label: _estimates(outcome, label, tests, engine, ckpts, x0) for label in outcome.stats}, outcome


def _estimates(outcome, label, tests, engine, ckpts, x0) -> dict:
    """test → (mean, stderr) per checkpoint (and component), control-variate adjusted when ``engine``."""
    run, stats = outcome.runs[label], outcome.stats[label]
    counts, mean, stderr = stats.summary()
    slices = run.layout.slices
    out = {}
    if engine is None:
        for t in tests:
            a, b, _ = slices[t]
            out[t] = (mean[:, a:b], stderr[:, a:b])
        return out
    method, l, dt = label
    exact = engine.method_moments(method, l, ckpts, x0, dt=dt)
    d = len(x0)
    iu = np.triu_indices(d)
    control_mean = np.concatenate([exact.mean, exact.second[:, iu[0], iu[1]]], axis=1)   # (ckpts, c)
    xa, _, _ = slices["x"]
    sa, sb, _ = slices["second_moments"]
    controls = np.r_[np.arange(xa, xa + d), np.arange(sa, sb)]
    cov = stats.covariance()
    for t in tests:
        a, b, _ = slices[t]
        est, se = np.empty((len(ckpts), b - a)), np.empty((len(ckpts), b - a))
        for k in range(len(ckpts)):
            c_hh = cov[k][np.ix_(controls, controls)]
            for j, target in enumerate(range(a, b)):
                c_hg = cov[k][controls, target]
                beta = np.linalg.lstsq(c_hh, c_hg, rcond=1e-12)[0]
                est[k, j] = mean[k, target] - beta @ (mean[k, controls] - control_mean[k])
                resid = cov[k][target, target] - c_hg @ beta
                if resid <= 1e-12 * cov[k][target, target]:
                    resid = 0.0  # g is a combination of the controls (a quadratic g): its estimate is exact
                est_n = counts[k]
                se[k, j] = np.sqrt(resid / est_n * (est_n - 1) / max(est_n - 1 - len(controls), 1))
        out[t] = (est, se)
    return out


def _exact_study(problem, engine, method, lr, time, tests, l_values, x0, ckpts, times, seed) -> Study:
    reference = engine.observables(engine.sde_moments(times, x0))
    rows, fits = [], {}
    for l in l_values:
        values = engine.observables(engine.method_moments(method, l, ckpts, x0))
        for test in tests:
            est, refv, err, _, t_max, _ = _largest(values[test], reference[test], np.zeros_like(values[test]), times)
            rows.append(Row(l, test, 0, est, refv, err, 0.0, t_max))
    for test in tests:
        test_rows = [r for r in rows if r.test == test]
        fits[test] = fit_order([r.l for r in test_rows], [r.error for r in test_rows], [0.0] * len(test_rows))
    return Study(problem={"name": problem.name, "params": to_jsonable(problem.params)}, method=method, lr=lr,
                 time=time, test_functions=tests, l_values=l_values, reference="exact", engine="exact",
                 control_variates=False, seed=seed, paths=0, x0=x0, checkpoint_times=times,
                 rows=rows, fits=fits)
