"""The log-log weak-error plot of a convergence study."""

from __future__ import annotations

from sdesim.estimators.weak_error import weak_error_study
from sdesim.problems import quadratic
from sdesim.demos.demo import Demo, Row, _check_paths, _figure, _titled


def weak_error(*, l_values=(1, 2, 4, 8, 16), lr: float = 0.2, time: float = 1.0, paths: int = 20_000,
               seed: int = 0, exact: bool = False, dtype: str = "float64") -> Demo:
    """The log-log weak-error plot of SVAG against the SDE (Theorem 4.3: slope −1).

    The study of ``sdesim converge``: the 2-d quadratic with skewed noise from x₀ = (2, 2),
    test functions |x|⁴ and |x|², the exact SDE values as reference.  ``exact=True`` uses the
    exact moment engine (|x|² only; no Monte Carlo).  ``dtype``: the paths' floating-point type.
    """
    from sdesim.plotting import plot_weak_error

    if not exact:   # the exact engine runs no paths
        paths = _check_paths("weak-error", paths)
    problem = quadratic(2, noise="exponential")
    tests = ("norm2",) if exact else ("norm4", "norm2")
    study = weak_error_study(problem, lr=lr, time=time, tests=tests, l_values=l_values, paths=paths, seed=seed,
                             x0=[2.0, 2.0], exact=exact, dtype=dtype)
    fig, (ax,) = _figure(6.0, 4.5)
    plot_weak_error(study, ax=ax)
    rows = [Row(f"{r.test}: e(l={r.l})", r.error, r.stderr) for r in study.rows]
    for test in study.test_functions:
        fit = study.fits[test]
        rows.append(Row(f"{test}: order p", fit.order, exact=1.0))
    return Demo(_titled(f"weak error of SVAG against the SDE ({study.verdict})", dtype), fig, rows)
