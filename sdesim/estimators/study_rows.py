"""The rows of a weak-error study: one level's e(l) per test function, the maximum over steps unbiased upward.

The paper's weak error is the largest gap over every effective step, e(l) = max_k |E g(x_k) − E g(X_{kη})|
(Definition 4.2).  A row takes that maximum without biasing it upward:

- exact values (exact moments, or a test in the span of the control variates against an
  exact reference): the maximum itself;
- Monte Carlo: the step k and sign s of the largest gap are chosen on paths independent of
  those that estimate it, and ê(l) = s · (ĝ(k) − E g(X_{kη})) on the others.  Given k and s,
  E ê(l) = s·e_l(k) ≤ max_k |e_l(k)|: noise can lower the estimate, never raise it.  Who chooses:

  * where level l's gaps stand out of its noise, or it has fewer than two coarser levels: each
    half of its paths chooses for the other half, and the two are averaged.  A wrong choice
    then costs at most the noise: two steps δ apart that the halves cannot tell apart lose
    δ·Φ(−δ/2σ) ≤ 0.34σ on average, σ the estimate's standard error, which shrinks with the paths;
  * where its gaps are at the noise floor: its gap profile predicted from the two coarser
    levels alone, P = α·c₁d_{c₁} + (1 − α)·c₂d_{c₂} with α/c₁ + (1 − α)/c₂ = 1/l (right to first
    order in 1/l), and ê(l) on all of its paths.  Its own halves would there pick a step at
    random, bias the finest levels down and tilt the fitted order up.

  "Stands out" is judged on the prediction, so it depends on the coarser levels alone: the
  predicted largest gap above 3 standard errors of a half.  The prediction is not used where
  the level is resolved because its error does not shrink with the paths: one coarser level c
  predicts C₁ + C₂/c instead of C₁ + C₂/l, two leave a C₃ term, and where two steps' gaps
  are close that picked the wrong one, 2.5% below the maximum of an OU process's x[0] at
  l = 2 (7 standard errors) and, at a million paths, 7% at l = 4.  A Monte Carlo reference
  (extrapolation, Euler) is cut into halves the same way.

``error="at_time"`` takes the signed gap at t = T instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdesim.estimators.order import RESOLVED_Z, fit_order


@dataclass(frozen=True)
class Row:
    """One point of the study: the weak error of one scalar test function at one l."""

    l: int
    test: str
    paths: int
    estimate: float           # E g(x^l) at the step of the largest gap (the halves' choices averaged)
    reference_value: float    # E g(X) there
    error: float              # the weak error e(l) (error_kind "at_time": the signed gap at T)
    stderr: float             # of the error; 0 when it is exact
    time: float               # t = kη of the step of the largest gap (half A's choice)
    source: str = "monte_carlo"    # "monte_carlo", "control_variates", "exact_in_span" or "exact_moments"
    raw_estimate: float = math.nan  # plain Monte Carlo E g(x^l) at the same step(s)
    raw_stderr: float = math.nan
    cv_residual_z: float = math.nan
    diverged: int = 0
    times: tuple = ()         # the steps chosen by the two halves (Monte Carlo, max over steps)

    @property
    def resolved(self) -> bool:
        return self.stderr == 0 or abs(self.error) > RESOLVED_Z * self.stderr

    @property
    def exact(self) -> bool:
        return self.stderr == 0


def pick(gap):
    """(k, sign) of the largest |gap|, or None if the gaps are not all finite."""
    if not np.all(np.isfinite(gap)):
        return None
    k = int(np.argmax(np.abs(gap)))
    return k, (1.0 if gap[k] >= 0 else -1.0)


def predicted_gaps(l, coarser, reference):
    """Level l's gaps l·d_l(k) predicted from coarser levels' paths alone, to first order in 1/l.

    With d_c(k) = C₁(k)/c + C₂(k)/c² + …, the combination α·c₁d_{c₁} + (1 − α)·c₂d_{c₂} with
    α/c₁ + (1 − α)/c₂ = 1/l is C₁ + C₂/l + …, level l's own profile.  ``coarser``: the two
    nearest coarser levels [(c, its estimates at every step)], the nearest last.
    """
    (c2, mean2), (c1, mean1) = coarser
    alpha = (1 / l - 1 / c2) / (1 / c1 - 1 / c2)
    return alpha * c1 * (mean1 - reference) + (1 - alpha) * c2 * (mean2 - reference)


def resolved(predicted, l, stderr) -> bool:
    """Whether level l's largest gap, as predicted from the coarser levels, stands out of a half's noise:
    |P(k)|/l > 3 standard errors of each half of the level's paths at that step."""
    for half, gaps in zip((1, 2), predicted):
        if not np.all(np.isfinite(gaps)):
            return False
        k = int(np.argmax(np.abs(gaps)))
        if abs(gaps[k]) / l <= RESOLVED_Z * stderr[half, k]:
            return False
    return True


def level_row(l, name, level, coarser, ref_mean, ref_se, times, kind):
    """The `Row` of one level and test, and the picks (k_A, s_A, k_B, s_B) its covariance needs.

    Exact values give the maximum itself.  Otherwise the step k and sign s of the largest
    gap are chosen on paths independent of those that estimate it: one half of the level's
    own paths for the other where its gaps stand out of the noise (`resolved`, judged on the
    coarser levels' prediction) or it has fewer than two coarser levels; else its gap profile
    predicted from the two coarser levels (`predicted_gaps`).  A Monte Carlo reference is cut in halves A and
    B as well: the step chosen against half A is estimated against half B and the other way
    round, and the two averaged, so the reference's noise cannot select itself either.
    """
    est = level.estimates[name]
    common = dict(l=l, test=name, paths=level.paths, source=est.source, cv_residual_z=level.cv_residual_z,
                  diverged=level.diverged)
    gap = est.mean[0] - ref_mean[0]
    nan = math.nan
    failed = Row(**common, estimate=nan, reference_value=nan, error=nan, stderr=nan, time=nan), None
    if level.diverged:   # the weak error is not defined where paths blew up: the row says so and nothing else
        return Row(**dict(common, cv_residual_z=nan), estimate=nan, reference_value=nan, error=nan, stderr=nan,
                   time=nan), None
    if not np.all(np.isfinite(gap)):
        return failed
    if kind == "at_time" or not (np.any(est.stderr) or np.any(ref_se)):
        k = len(times) - 1 if kind == "at_time" else int(np.argmax(np.abs(gap)))
        error = gap[k] if kind == "at_time" else abs(gap[k])
        return Row(**common, estimate=float(est.mean[0, k]), reference_value=float(ref_mean[0, k]),
                   error=float(error), stderr=math.sqrt(est.stderr[0, k] ** 2 + ref_se[0, k] ** 2),
                   time=float(times[k]), raw_estimate=float(est.raw_mean[0, k]),
                   raw_stderr=float(est.raw_stderr[0, k])), None
    predicted = [predicted_gaps(l, coarser, ref_mean[half]) for half in (1, 2)] if len(coarser) == 2 else None
    if predicted is not None and not resolved(predicted, l, est.stderr):
        picks = [pick(gaps) for gaps in predicted]
        own = [0, 0]                     # the estimate uses all of the level's paths
    else:                                # each half of the level's paths chooses for the other
        picks = [pick(est.mean[half] - ref_mean[half]) for half in (1, 2)]
        own = [2, 1]
    if None in picks:
        return failed
    (k_a, s_a), (k_b, s_b) = picks
    # the gap at half A's choice against reference half B, and at half B's against half A; with an exact
    # reference, or when both choose one step and sign, this is s·(ĝ_l(k) − E g(X_k)) on all of its paths
    error = 0.5 * (s_a * (est.mean[own[0], k_a] - ref_mean[2, k_a]) + s_b * (est.mean[own[1], k_b] - ref_mean[1, k_b]))
    # the level's own part at two steps is bounded as if fully correlated (|ρ| ≤ 1); its halves are independent
    se_a, se_b = est.stderr[own[0], k_a], est.stderr[own[1], k_b]
    own_var = (0.5 * (se_a + se_b)) ** 2 if not any(own) else 0.25 * (se_a**2 + se_b**2)
    stderr = math.sqrt(own_var + 0.25 * (ref_se[2, k_a] ** 2 + ref_se[1, k_b] ** 2))
    both = lambda a: float(0.5 * (a[own[0], k_a] + a[own[1], k_b]))  # noqa: E731
    raw_a, raw_b = est.raw_stderr[own[0], k_a], est.raw_stderr[own[1], k_b]
    raw_se = 0.5 * (raw_a + raw_b) if not any(own) else 0.5 * math.hypot(raw_a, raw_b)
    return (Row(**common, estimate=both(est.mean), reference_value=float(0.5 * (ref_mean[2, k_a] + ref_mean[1, k_b])),
                error=float(error), stderr=float(stderr), time=float(times[k_a]), raw_estimate=both(est.raw_mean),
                raw_stderr=float(raw_se), times=tuple(sorted({float(times[k_a]), float(times[k_b])}))),
            (k_a, s_a, k_b, s_b))


def covariance(rows, picks, ref_se, kind) -> np.ndarray:
    """The covariance of the fitted errors: each level's own variance, plus a shared Monte Carlo reference's.

    A reference estimated at different steps for two levels is taken as fully correlated
    between them (the same paths, a few steps apart); at the same step it is exactly so.
    """
    n = len(rows)
    cov = np.diag([r.stderr**2 for r in rows])
    if not np.any(ref_se) or any(r.stderr == 0 for r in rows):
        return cov if np.any(cov) else np.zeros((n, n))
    if kind == "at_time" or picks[0] is None:
        shared = np.full(n, ref_se[0, -1])
        return cov + (np.outer(shared, shared) - np.diag(shared**2))
    a = np.array([0.5 * s_a * ref_se[2, k_a] for k_a, s_a, _, _ in picks])
    b = np.array([0.5 * s_b * ref_se[1, k_b] for _, _, k_b, s_b in picks])
    shared = np.outer(a, a) + np.outer(b, b)
    return cov + shared - np.diag(np.diag(shared))


def rows_and_fit(name, levels: dict, fit_l, ref_mean, ref_se, times, kind, rule, fit_from):
    """Every level's `Row` of test ``name`` ({l: level}, in increasing l) and the `fit_order` over ``fit_l``."""
    rows, fitted, picks = [], [], []
    usable = [l for l, level in levels.items() if not level.diverged]   # a diverged level predicts nothing
    for l, level in levels.items():
        coarser = [(c, levels[c].estimates[name].mean[0]) for c in usable if c < l][-2:]
        row, pick = level_row(l, name, level, coarser, ref_mean, ref_se, times, kind)
        rows.append(row)
        if l in fit_l:
            fitted.append(row)
            picks.append(pick)
    if not fitted:
        return rows, fit_order([float(fit_from)], [math.nan], [1.0], **rule)
    return rows, fit_order([r.l for r in fitted], [r.error for r in fitted], covariance(fitted, picks, ref_se, kind),
                           **rule, diverged=[r.diverged for r in fitted])
