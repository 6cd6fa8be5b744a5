"""Claim 3, eq. (4): SGD's gap to the SDE = discretization error + gap due to non-Gaussian noise.

    E g(X_{kη}) − E g(x_k) = (E g(X_{kη}) − E g(x̂_k)) + (E g(x̂_k) − E g(x_k)),

x̂ noisy GD (Euler–Maruyama) with the same step.  Measured at every l of a SVAG sweep
(l = 1 is the paper's SGD and NGD) on the quadratic problem with skewed (exponential)
noise, where the SDE is exact (`sdesim.estimators.decomposition.decompose`).
Checked: with |x|⁴ both parts are resolved at l = 1 and both shrink like 1/l (Euler–Maruyama
and SVAG are order-1 weak schemes).  Shown as identities (they hold by construction): the
split adds up, and with |x|² the non-Gaussian part is zero to rounding, since the two
schemes share their first two moments exactly.
"""

from __future__ import annotations

import numpy as np

from sdesim.estimators.decomposition import decompose
from sdesim.estimators.order import fit_order
from sdesim.problems import quadratic
from sdesim.atomic import save_figure
from sdesim.validation.report import all_passed, Check, ClaimResult, figure_path, fmt, IDENTITY, Timer, Z

NAME = "decomposition"
TITLE = "SGD–SDE gap = discretization error + non-Gaussian gap"
FLOAT64_ONLY = None   # its paths run in float32 too: settings["dtype"] (`sdesim validate --dtype`)
REFERENCE = "Eq. (4)"

# Declared before the run, and printed in the report: each part's order is fitted over l ≥ fit_from
# and passes when order 1 is confirmed: its interval at `confidence` contains 1 and is at most
# `precision` wide either side (the quick settings have the power for ±0.5 only).
QUICK = dict(lr=0.2, time=0.6, x0=(2.0,), l_values=(1, 2, 4, 8), paths=50_000, seed=3, tolerance=Z, fit_from=1,
             precision=0.5, confidence=0.999)
FULL = dict(QUICK, l_values=(1, 2, 4, 8, 16, 32), paths=2_000_000, fit_from=2, precision=0.1)


def run(quick: bool = True, out_dir="sdesim-validation", **overrides) -> ClaimResult:
    """Split the gap at each l and check both parts; ``overrides`` replace entries of QUICK/FULL."""
    settings = {**(QUICK if quick else FULL), **overrides}
    tol = settings["tolerance"]
    problem = quadratic(1, noise="exponential")
    common = dict(lr=settings["lr"], time=settings["time"], l_values=settings["l_values"], x0=list(settings["x0"]),
                  seed=settings["seed"], dtype=settings.get("dtype", "float64"))
    checks = []
    with Timer() as timer:
        quartic = decompose(problem, test="norm4", paths=settings["paths"], **common)
        quadratic_test = decompose(problem, test="norm2", paths=8192, **common)
        rows = quartic.rows
        worst = max(abs(r["total"] - r["discretization"] - r["non_gaussian"]) for r in rows)
        checks.append(Check("(E g(x) − E g(X)) − (discretization + non-Gaussian), |x|⁴, largest over l",
                            f"{worst:.1e}", "0: eq. (4) is an identity (it adds and subtracts E g(x̂))",
                            worst <= 1e-9 * max(abs(r["total"]) for r in rows), IDENTITY))
        first = rows[0]
        for part, label in (("discretization", "discretization error E g(x̂) − E g(X)"),
                            ("non_gaussian", "non-Gaussian gap E g(x) − E g(x̂)")):
            z = abs(first[part]) / first[part + "_stderr"]
            checks.append(Check(f"{label} at l = 1 (SGD vs NGD), |x|⁴",
                                f"{fmt(first[part], first[part + '_stderr'])} ({z:.0f} standard errors)",
                                "a part of the gap (nonzero)", z > tol))
            used = [r for r in rows if r["l"] >= settings["fit_from"]]
            fit = fit_order([r["l"] for r in used], [r[part] for r in used], [r[part + "_stderr"] for r in used],
                            expected=1.0, precision=settings["precision"], confidence=settings["confidence"])
            checks.append(Check(f"{label}: order in l, |x|⁴",
                                f"p = {fit.order:.3f}, {100 * fit.confidence:g}% interval [{fit.ci[0]:.3f}, "
                                f"{fit.ci[1]:.3f}] over l = {[int(v) for v in fit.l]}: {fit.kind}",
                                f"shrinks like 1/l (both schemes are order-1 weak approximations, Theorem 4.3); "
                                f"confirmed within ±{settings['precision']:g}", fit.kind == "confirmed"))
        largest = max(abs(r["non_gaussian"]) for r in quadratic_test.rows)
        checks.append(Check("non-Gaussian gap with |x|², largest over l", f"{largest:.1e}",
                            "0: the schemes share their first two moments exactly (quadratic g cannot see the "
                            "noise's shape), an algebraic consequence of their definitions",
                            largest < 1e-10, IDENTITY))
        figures = [_plot(quartic, out_dir)]
    ok = all_passed(checks)
    reason = ("With |x|⁴ both parts of the gap at T are resolved at l = 1 and order 1 is confirmed for each "
              f"(within ±{settings['precision']:g}); by construction the parts add up, and with |x|² the "
              "non-Gaussian gap vanishes." if ok else
              "A part of eq. (4) is unresolved, or order 1 is not confirmed for it: see the failed rows.")
    return ClaimResult(NAME, TITLE, REFERENCE, checks, reason, figures, settings, timer.seconds, quick)


def _plot(result, out_dir) -> str:
    from matplotlib.figure import Figure

    path, relative = figure_path(out_dir, "claim3_decomposition.png")
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    l = np.array([r["l"] for r in result.rows], float)
    for i, (part, label) in enumerate((("total", "SVAG − SDE (total)"), ("discretization", "Euler − SDE"),
                                       ("non_gaussian", "SVAG − Euler (non-Gaussian)"))):
        v = np.abs([r[part] for r in result.rows])
        half = 1.96 * np.array([r[part + "_stderr"] for r in result.rows])
        ax.errorbar(l, v, yerr=[np.minimum(half, 0.999 * v), half], fmt="os^"[i] + "-", ms=4, capsize=3, label=label)
    ax.plot(l, abs(result.rows[0]["total"]) / l, "k--", lw=1, label="slope −1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l (l = 1: SGD and NGD)")
    ax.set_ylabel(f"|part of the weak error|, g = {result.test}")
    ax.set_title(f"eq. (4) on quadratic, exponential noise, η={result.lr:g}, T={result.time:g}", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)
    return relative
