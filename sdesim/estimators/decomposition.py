"""The error decomposition of eq. (4), at every l of a sweep.

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
from sdesim.estimators.order import OrderFit, fit_order
from sdesim.estimators.test_functions import check_tests
from sdesim.estimators.weak_error import (_checkpoints, _exact_reference_available, _exact_sde_values, _horizon,
                                          _l_values, estimate_levels)
from sdesim.problems.base import Problem
from sdesim.result import to_jsonable

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
    fits: dict          # part -> OrderFit of its size against l
    interrupted: bool = False

    def to_dict(self) -> dict:
        return to_jsonable({
            "problem": self.problem, "lr": self.lr, "time": self.time, "test": self.test, "paths": self.paths,
            "seed": self.seed, "rows": self.rows, "interrupted": self.interrupted,
            "fits": {k: {"order": f.order, "order_ci": list(f.ci), "verdict": f.verdict} for k, f in self.fits.items()},
        })

    def table(self) -> str:
        lines = [f"eq. (4) on {self.problem['name']}, test {self.test}, lr={self.lr:g}, T={self.time:g}, "
                 f"{self.paths} paths per scheme (± is 1.96 standard errors)",
                 f"{'l':>4} {'SVAG − SDE':>22} {'Euler − SDE (discr.)':>22} {'SVAG − Euler (non-Gauss.)':>26}"]
        for r in self.rows:
            cells = [f"{r[p]:.4g} ± {1.96 * r[p + '_stderr']:.2g}" for p in PARTS]
            lines.append(f"{r['l']:>4} {cells[0]:>22} {cells[1]:>22} {cells[2]:>26}")
        for part in PARTS:
            lines.append(f"{part}: {self.fits[part].verdict}")
        return "\n".join(lines)


def decompose(problem: Problem, *, lr: float = 0.2, time: float = 1.0, test: str = "norm4",
              l_values=(1, 2, 4, 8, 16), paths: int = 100_000, seed: int = 0, x0=None, checkpoints: int = 4,
              control_variates: bool = True, client=None, progress: bool = False) -> Decomposition:
    """Split SVAG's weak error into discretization error and non-Gaussian gap at each l (eq. (4))."""
    lr = positive_float("lr (the learning rate η)", lr)
    time = positive_float("time (the horizon T)", time)
    steps = _horizon(lr, time)
    l_values = _l_values(l_values)
    (test,) = check_tests([test])
    paths = positive_int("paths", paths)
    why = _exact_reference_available(problem, [test])
    if why is not None:
        raise ValueError(f"the decomposition needs the exact SDE value of {test!r}: {why}")
    x0 = problem.start_point(x0)
    ckpts = _checkpoints(steps, checkpoints)
    times = ckpts * lr
    use_cv = bool(control_variates) and problem.linear_quadratic is not None
    labels = [(m, l, None) for l in l_values for m in ("svag", "sde")]
    estimates, outcome = estimate_levels(problem, labels, [test], None, lr=lr, steps=steps, x0=x0, ckpts=ckpts,
                                         paths=paths, seed=seed, use_cv=use_cv, client=client, progress=progress)
    reference = np.asarray(_exact_sde_values(problem, lr, [test], times, x0)[test], float).reshape(len(times), -1)
    rows, at = [], None
    for l in l_values:
        if ("svag", l, None) not in estimates or ("sde", l, None) not in estimates:
            continue
        g_s, s_s = (np.asarray(a).reshape(len(times), -1) for a in estimates[("svag", l, None)][test])
        g_e, s_e = (np.asarray(a).reshape(len(times), -1) for a in estimates[("sde", l, None)][test])
        if at is None:  # the checkpoint where SVAG's error at the smallest l is largest, for every l
            at = np.unravel_index(np.argmax(np.abs(g_s - reference)), reference.shape)
        ref = float(reference[at])
        row = {"l": l, "time": float(times[at[0]]), "svag": float(g_s[at]), "euler": float(g_e[at]), "reference": ref,
               "total": float(g_s[at] - ref), "total_stderr": float(s_s[at]),
               "discretization": float(g_e[at] - ref), "discretization_stderr": float(s_e[at]),
               "non_gaussian": float(g_s[at] - g_e[at]), "non_gaussian_stderr": float(np.hypot(s_s[at], s_e[at]))}
        rows.append(row)
    scale = max((abs(r["total"]) for r in rows), default=0.0)
    fits: dict[str, OrderFit] = {}
    for part in PARTS:
        values, errors = [r[part] for r in rows], [r[part + "_stderr"] for r in rows]
        if rows and max(errors) == 0 and max(map(abs, values)) <= 1e-10 * scale:
            fits[part] = OrderFit(float("nan"), (float("nan"), float("nan")), 0.0, (), np.array([]), float("nan"),
                                  f"no {part.replace('_', '-')} part: zero to rounding at every l "
                                  f"(|value| ≤ {max(map(abs, values)):.1e})", True)
        else:
            fits[part] = fit_order([r["l"] for r in rows], values, errors)
    return Decomposition(problem={"name": problem.name, "params": to_jsonable(problem.params)}, lr=lr, time=time,
                         test=test, paths=paths, seed=seed, rows=rows, fits=fits, interrupted=outcome.interrupted)
