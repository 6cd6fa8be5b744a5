"""The error decomposition of eq. (4), at the horizon T, at every l of a sweep.

    E g(X) − E g(x^{SVAG,l}) = (E g(X) − E g(x̂^{l}))  +  (E g(x̂^{l}) − E g(x^{SVAG,l}))
                                 discretization error      gap from non-Gaussian noise

with x̂^{l} Euler–Maruyama with step η/l, i.e. noisy gradient descent with the
covariance of SVAG's noise.  At l = 1 this is the paper's eq. (4) for SGD and NGD.
On linear-quadratic problems the two discrete schemes share their first two moments
exactly (see `sdesim.estimators.exact_moments`), so a quadratic test function
sees no gap at all; a fourth moment does, and the gap closes as l grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdesim._checks import positive_float, positive_int
from sdesim.estimators.levels import estimate_levels
from sdesim.estimators.order import OrderFit, check_confidence, check_precision, fit_order
from sdesim.estimators.references import exact_sde_values, why_not_exact
from sdesim.estimators.test_functions import check_tests
from sdesim.estimators.sweep_arguments import horizon_steps, l_values_of
from sdesim.estimators.weak_error import MIN_PATHS
from sdesim.kernels.precision import check_dtype
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable
from sdesim.rng.versions import stream_version as check_stream_version

PARTS = ("total", "discretization", "non_gaussian")


@dataclass
class Decomposition:
    problem: dict
    lr: float
    time: float
    test: str
    paths: int
    seed: int
    rows: list          # one dict per l: estimates, reference, and the three parts with standard errors
    fits: dict          # part -> OrderFit of its size against l, or None where the part is zero to rounding
                        # (all None when interrupted: a run cut short is not judged)
    interrupted: bool = False
    dtype: str = "float64"  # the paths' floating-point type (sdesim.kernels.precision)
    stream_version: int = 1   # the normal sampler (sdesim.rng.versions)

    def to_dict(self) -> dict:
        return to_jsonable({
            "problem": self.problem, "lr": self.lr, "time": self.time, "test": self.test, "paths": self.paths,
            "seed": self.seed, "stream_version": self.stream_version, "rows": self.rows,
            "interrupted": self.interrupted, "error_kind": "at_time", "dtype": self.dtype,
            "fits": {k: (None if f is None else f.to_dict()) for k, f in self.fits.items()},
        })

    def verdict(self, part: str) -> str:
        fit = self.fits[part]
        if self.interrupted:
            done = ", ".join(str(r["l"]) for r in self.rows) or "none"
            return f"NOT JUDGED: interrupted (Ctrl-C or SIGTERM) after the levels l = {done}"
        if fit is None:
            largest = max(abs(r[part]) for r in self.rows)
            return f"no {part.replace('_', '-')} part: zero to rounding at every l (|value| ≤ {largest:.1e})"
        return f"{fit.kind.upper()}: {fit.verdict}"

    def table(self) -> str:
        lines = [f"eq. (4) on {self.problem['name']}, test {self.test}, lr={self.lr:g}, gaps at T={self.time:g}, "
                 f"{self.paths} paths per scheme (± is 1.96 standard errors)",
                 f"{'l':>4} {'SVAG − SDE':>22} {'Euler − SDE (discr.)':>22} {'SVAG − Euler (non-Gauss.)':>26}"]
        for r in self.rows:
            cells = [f"{r[p]:.4g} ± {1.96 * r[p + '_stderr']:.2g}" for p in PARTS]
            lines.append(f"{r['l']:>4} {cells[0]:>22} {cells[1]:>22} {cells[2]:>26}")
        for part in PARTS:
            lines.append(f"{part}: {self.verdict(part)}")
        return "\n".join(lines)


def decompose(problem: Problem, *, lr: float = 0.2, time: float = 1.0, test: str = "norm4",
              l_values=(1, 2, 4, 8, 16), paths: int = 100_000, seed: int = 0, x0=None,
              control_variates: bool = True, expected: float = 1.0, precision: float = 0.1,
              confidence: float = 0.95, client=None, progress: bool = False, dtype: str = "float64",
              stream_version: int = 1) -> Decomposition:
    """Split SVAG's weak error at T into discretization error and non-Gaussian gap at each l (eq. (4)).

    Each part's size is fitted against l by `fit_order` and judged by the same rule as a
    weak-error study (``expected``, ``precision``, ``confidence``).  ``dtype``: the paths' floating-point
    type (`sdesim.kernels.precision`); ``stream_version``: the normal sampler (`sdesim.rng.versions`).
    """
    lr = positive_float("lr (the learning rate η)", lr)
    stream_version = check_stream_version(stream_version)
    time = positive_float("time (the horizon T)", time)
    dtype = check_dtype(dtype)
    steps = horizon_steps(lr, time)
    l_values = l_values_of(l_values)
    (test,) = check_tests([test])
    if test == "x":
        raise ValueError("the decomposition takes a scalar test function (norm4, norm2, loss, grad_norm2, "
                         "noise_trace), not the vector x")
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    paths = positive_int("paths", paths)
    if paths < MIN_PATHS:
        raise ValueError(f"the decomposition needs at least {MIN_PATHS} paths per scheme and l, got {paths}")
    why = why_not_exact(problem, test)
    if why is not None:
        raise ValueError(f"the decomposition needs the exact SDE value of {test!r}: {why}")
    x0 = problem.start_point(x0)
    ckpts = np.array([steps], dtype=np.int64)
    use_cv = bool(control_variates) and problem.has_linear_quadratic
    labels = [(m, l, None) for l in l_values for m in ("svag", "sde")]
    levels, outcome = estimate_levels(problem, labels, [test], None, lr=lr, steps=steps, x0=x0, ckpts=ckpts,
                                      paths=paths, seed=seed, use_cv=use_cv, client=client, progress=progress,
                                      dtype=dtype, stream_version=stream_version)
    ref = float(np.asarray(exact_sde_values(problem, lr, [test], [time], x0)[test], float).ravel()[0])
    rows = []
    for l in l_values:
        if ("svag", l, None) not in levels or ("sde", l, None) not in levels:
            continue
        s, e = levels[("svag", l, None)].estimates[test], levels[("sde", l, None)].estimates[test]
        g_s, s_s, g_e, s_e = s.mean[0, -1], s.stderr[0, -1], e.mean[0, -1], e.stderr[0, -1]
        rows.append({"l": l, "time": time, "svag": float(g_s), "euler": float(g_e), "reference": ref,
                     "total": float(g_s - ref), "total_stderr": float(s_s),
                     "discretization": float(g_e - ref), "discretization_stderr": float(s_e),
                     "non_gaussian": float(g_s - g_e), "non_gaussian_stderr": float(np.hypot(s_s, s_e))})
    scale = max((abs(r["total"]) for r in rows), default=0.0)
    fits: dict[str, OrderFit | None] = {}
    for part in PARTS:
        values, errors = [r[part] for r in rows], [r[part + "_stderr"] for r in rows]
        if outcome.interrupted:   # the levels that finished are kept; a run cut short gives no verdict
            fits[part] = None
        elif rows and max(errors) == 0 and max(map(abs, values)) <= 1e-10 * scale:
            fits[part] = None
        else:
            fits[part] = fit_order([r["l"] for r in rows], values, errors, **rule)
    return Decomposition(problem={"name": problem.name, "params": to_jsonable(problem.params)}, lr=lr, time=time,
                         test=test, paths=paths, seed=seed, rows=rows, fits=fits, interrupted=outcome.interrupted,
                         dtype=dtype, stream_version=stream_version)
