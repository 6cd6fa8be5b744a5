"""The three verdicts of the order rule on one problem: confirmed, inconclusive, rejected.

The study of `weak_error` (the 2-d quadratic with skewed noise from x₀ = (2, 2), η = 0.2, T = 1),
with the error taken at t = T (``error="at_time"``: the signed gap e(l) = E g(x^l_T) − E g(X_T),
which plain Monte Carlo estimates without bias), three ways:

- the exact moment engine gives e(l) exactly; e(l) = C₁/l + O(l⁻²) (Theorem 4.3) and order 1 is
  ``confirmed``;
- plain Monte Carlo (no control variates) estimates each e(l) ± its standard error; the same rule
  on these noisy errors says ``inconclusive`` until the paths resolve the order;
- a deliberately wrong reference, the SDE one step late, E g(X_{T+η}) for E g(X_T), leaves the floor
  e(l) → E g(X_T) − E g(X_{T+η}) ≠ 0, and order 1 is ``rejected`` (plain Monte Carlo again, on
  ``LATE_PATHS`` paths: the floor stands many standard errors above the noise).

All three run the kernel of plain Monte Carlo on this problem (no control variates): no new compiled variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdesim.estimators.references import exact_sde_values
from sdesim.estimators.weak_error import weak_error_study
from sdesim.problems import quadratic
from sdesim.demos.demo import Demo, Row, _check_paths, _figure

TESTS = ("norm2", "loss", "x")          # the test functions the exact engine covers (first and second moments)
LR, TIME, X0 = 0.2, 1.0, (2.0, 2.0)
LATE_PATHS = 2000                       # the late reference's study: its floor stands far above this noise


@dataclass(frozen=True, eq=False)
class OrderDemo(Demo):
    """A `Demo` that keeps its three studies: ``studies["exact"]``, ``["monte_carlo"]``, ``["late"]``."""

    studies: dict = field(default_factory=dict)


def _problem():
    return quadratic(2, noise="exponential")


def _common(test: str, l_values) -> dict:
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)} (the exact engine gives first and second "
                         f"moments only), got {test!r}")
    return dict(lr=LR, time=TIME, tests=(test,), l_values=l_values, x0=list(X0), error="at_time")


def exact_study(*, test: str = "norm2", l_values=(1, 2, 4, 8, 16)):
    """The exact moment engine's study of ``test``: e(l) exactly, order 1 confirmed (Theorem 4.3)."""
    return weak_error_study(_problem(), exact=True, **_common(test, l_values))


def late_reference(problem, lr: float, x0):
    """The wrong reference: E g(X_{t+η}) in place of E g(X_t) (exact values of the SDE, one step late)."""
    x0 = np.asarray(x0, float)

    def late(name, times):
        return exact_sde_values(problem, lr, [name], np.asarray(times) + lr, x0)[name]

    late.__name__ = "one_step_late"
    return late


def order_verdicts(*, test: str = "norm2", l_values=(1, 2, 4, 8, 16), paths: int = 10_000, seed: int = 0) -> OrderDemo:
    """The exact, the Monte Carlo and the one-step-late study of ``test`` over ``l_values``.

    Rows: each Monte Carlo e(l) ± standard error beside the exact engine's e(l).
    """
    common = _common(test, l_values)
    paths = _check_paths("order-verdicts", paths)
    problem = _problem()
    exact = exact_study(test=test, l_values=l_values)
    monte_carlo = weak_error_study(problem, paths=paths, seed=seed, control_variates=False, **common)
    late = weak_error_study(problem, paths=LATE_PATHS, seed=seed + 1, control_variates=False,
                            reference=late_reference(problem, LR, X0), **common)
    truth = {(r.test, r.l): r.error for r in exact.rows}
    rows = [Row(f"{r.test}: e(l={r.l})", r.error, r.stderr, truth[(r.test, r.l)]) for r in monte_carlo.rows]
    fig, (ax,) = _figure(6.4, 4.4)
    for name in exact.test_functions:
        for study, style, label in ((exact, "o-", "exact engine"), (late, "s--", "one step late (wrong)")):
            pts = study.rows_for(name)
            ax.plot([r.l for r in pts], [abs(r.error) for r in pts], style, label=f"{name}: {label}")
        pts = monte_carlo.rows_for(name)
        ax.errorbar([r.l for r in pts], [max(abs(r.error), 1e-6) for r in pts], yerr=[2 * r.stderr for r in pts],
                    fmt="^:", capsize=3, label=f"{name}: Monte Carlo, {paths} paths (± 2 se)")
    ls = np.array(exact.l_values, float)
    first = exact.rows_for(exact.test_functions[0])[0]
    ax.plot(ls, abs(first.error) * ls[0] / ls, color="0.6", lw=1, label="slope −1 (Theorem 4.3)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l (SVAG step η/l)")
    ax.set_ylabel("|e(l)| at T = 1")
    ax.legend(fontsize=7)
    studies = {"exact": exact, "monte_carlo": monte_carlo, "late": late}
    verdicts = ", ".join(f"{k}: {s.fits[s.test_functions[0]].kind}" for k, s in studies.items())
    return OrderDemo(f"weak order of SVAG, three studies ({verdicts})", fig, rows, studies)
