"""Fitting the weak order p in e(l) ≈ C l^{−p}, and saying in words what the fit shows.

The fit is weighted least squares of log e on log l, each point weighted by its
relative standard error (se/e is the standard error of log e).  When the scatter
exceeds what the error bars allow (reduced χ² > 1) the covariance is inflated by
it, and the interval for p uses Student's t with n − 2 degrees of freedom.  Points
whose error is not resolved (e < 3 se) are left out of the fit and reported.

The weak error expands as e(l) = C₁/l + C₂/l² + … (Talay–Tubaro), so the coarsest
l can lie outside the power-law range, and there the tiny error bars of large
errors would let the 1/l² part bias p.  While a χ² goodness-of-fit test rejects the
power law (p-value < 0.05) and more than three points remain, the smallest l is
dropped as pre-asymptotic; the verdict names the dropped points.  For exact moments (no error
bars) the order is the local slope between the two finest l, and its interval
spans the local slopes of the finest three pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

RESOLVED_Z = 3.0
GOODNESS_OF_FIT = 0.05


@dataclass(frozen=True)
class OrderFit:
    """The fitted order, its confidence interval, and the evidence behind the verdict."""

    order: float
    ci: tuple
    constant: float
    used: tuple                 # the l values that entered the fit
    local_slopes: np.ndarray    # log2(e(l)/e(2l))-style slopes between consecutive used points
    reduced_chi2: float
    verdict: str
    confirmed: bool
    dropped: tuple = ()         # smallest l dropped as pre-asymptotic


def local_slopes(l, e) -> np.ndarray:
    """−Δ log e / Δ log l between consecutive points."""
    l, e = np.asarray(l, float), np.asarray(e, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.diff(np.log(e)) / np.diff(np.log(l))


def fit_order(l, error, stderr, *, expected: float = 1.0, confidence: float = 0.95, diverged=None) -> OrderFit:
    """Fit p over the resolved points and return it with a verdict on order ``expected``."""
    l, e = np.asarray(l, float), np.abs(np.asarray(error, float))
    se = np.asarray(stderr, float)
    exact = np.all(se == 0)
    resolved = np.isfinite(e) & (e > 0) & (exact | (e > RESOLVED_Z * se))
    if diverged is not None and np.any(np.asarray(diverged) > 0):
        bad = l[np.asarray(diverged) > 0].astype(int).tolist()
        nan = float("nan")
        return OrderFit(nan, (nan, nan), nan, (), local_slopes(l, e), nan,
                        f"divergence: paths blew up (NaN or inf) at l = {bad}; the weak error is not defined there",
                        False)
    if resolved.sum() < 2:
        nan = float("nan")
        return OrderFit(nan, (nan, nan), nan, (), local_slopes(l, e), nan,
                        "Monte Carlo noise floor: fewer than two errors are resolved (error > 3 standard errors); "
                        "use more paths or smaller l", False)
    used = resolved.copy()
    dropped = []
    while True:
        order, ci, constant, chi2, pvalue = _weighted_fit(l[used], e[used], se[used], exact, confidence)
        if exact or pvalue >= GOODNESS_OF_FIT or used.sum() <= 3:
            break
        first = np.flatnonzero(used)[0]
        used[first] = False
        dropped.append(int(l[first]))
    slopes = local_slopes(l[used], e[used])
    if exact:
        order = float(slopes[-1])
        ci = (float(np.min(slopes[-3:])), float(np.max(slopes[-3:])))
        constant = float(e[used][-1] * l[used][-1] ** order)  # the line through the finest point
    verdict, confirmed = _verdict(order, ci, slopes, l, used, resolved, dropped, expected, exact, confidence)
    return OrderFit(order, ci, constant, tuple(int(v) for v in l[used]), slopes, chi2, verdict, confirmed,
                    tuple(dropped))


def _weighted_fit(l, e, se, exact, confidence):
    """(order, interval, constant, reduced χ², goodness-of-fit p-value) of log e = log C − p log l."""
    x, y = np.log(l), np.log(e)
    w = np.ones_like(x) if exact else (e / se) ** 2
    design = np.column_stack([np.ones_like(x), -x])
    cov = np.linalg.inv(design.T @ (w[:, None] * design))
    coef = cov @ design.T @ (w * y)
    resid = y - design @ coef
    dof = len(x) - 2
    chi2 = float(np.sum(w * resid**2) / dof) if dof > 0 else float("nan")
    pvalue = float(stats.chi2.sf(chi2 * dof, dof)) if dof > 0 and not exact else 1.0
    scale = (chi2 if dof > 0 else 0.0) if exact else (max(1.0, chi2) if dof > 0 else 1.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, max(dof, 1)) * np.sqrt(scale * cov[1, 1]))
    order = float(coef[1])
    return order, (order - half, order + half), float(np.exp(coef[0])), chi2, pvalue


def _verdict(order, ci, slopes, l, used, resolved, dropped, expected, exact, confidence):
    span = f"l = {int(l[used][0])}…{int(l[used][-1])}"
    unresolved = [int(v) for v in l[~resolved]]
    notes = ""
    if dropped:
        notes += f"; l = {dropped} dropped as pre-asymptotic (χ² test of the power law)"
    if unresolved:
        notes += (f"; errors at l = {unresolved} are within {RESOLVED_Z:g} standard errors of 0 (Monte Carlo "
                  "noise floor) and were left out")
    if exact:
        if abs(order - expected) < 0.05:
            return (f"order {expected:g} confirmed: exact moments, local slope {order:.3f} between the two finest l "
                    f"(local slopes over {span}: {np.round(slopes, 3).tolist()})"), True
        trend = ("rising toward" if len(slopes) > 1 and abs(slopes[-1] - expected) < abs(slopes[0] - expected)
                 else "not approaching")
        return (f"order {expected:g} not confirmed: exact moments, local slopes {np.round(slopes, 3).tolist()} "
                f"({trend} {expected:g}); pre-asymptotic range, extend l"), False
    pct = f"{100 * confidence:g}%"
    if ci[0] <= expected <= ci[1]:
        return (f"order {expected:g} confirmed: p = {order:.3f}, {pct} interval [{ci[0]:.3f}, {ci[1]:.3f}] "
                f"over {span}{notes}"), True
    if len(slopes) > 1 and abs(slopes[-1] - expected) < abs(slopes[0] - expected):
        why = (f"local slopes {np.round(slopes, 2).tolist()} move toward {expected:g}: pre-asymptotic range, "
               "extend l (with more paths)")
    elif order < 0:
        why = "the error grows with l: divergence from the reference"
    else:
        why = f"local slopes {np.round(slopes, 2).tolist()} do not approach {expected:g}"
    return (f"order {expected:g} not confirmed: p = {order:.3f}, {pct} interval [{ci[0]:.3f}, {ci[1]:.3f}] "
            f"over {span}; {why}{notes}"), False
