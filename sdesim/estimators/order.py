"""The weak order p of e(l) ≈ C₁ l^{−p} + C₂ l^{−p−1} + C₃ l^{−p−2}, its interval, and a three-way verdict.

The model.  The weak error of an order-p scheme expands as e(l) = C₁ l^{−p} + C₂ l^{−p−1} + …
(Talay–Tubaro), with every power present.  `fit_order` fits the *signed* errors (no
logarithms, so points near the noise floor and sign changes are handled) over the l values
it is given: the fit range is fixed before the data are seen, never trimmed by them.

Monte Carlo errors (a standard error per point, or their full covariance V when they are
correlated, e.g. through a shared Monte Carlo reference): generalized least squares.  For a
fixed p the model is linear in the constants, so χ²(p) = min over C of rᵀV⁻¹r is exact, and
p is found by minimizing this profile.  Without a constraint the model would not identify p
(C₁ = 0 turns C₂ l^{−p−1} into a leading term of order p + 1), so |C_j/C₁| ≤ (2·l_min)^{j−1}:
at the smallest l fitted, each term is at most twice the one before.  The interval is the
profile-likelihood one,

    { p : χ²(p) − χ²(p̂) ≤ q },   q = χ²₁ quantile at the confidence level.

Two models, one rule.  The two-term fit is the precise one, but it drops C₃ l^{−p−2}, whose
pull on p̂ is fixed while the interval shrinks like 1/√paths: on real schemes (Euler on
geometric Brownian motion, an Ornstein–Uhlenbeck process, a nonlinear SDE) it moves p̂ by
0.002–0.04, which a 16M–256M-path study resolves.  So every fit with five points or more
also fits three terms (an interval about 2.5 times wider whose own truncation is a power of
l smaller), and

- ``rejected``: both intervals exclude ``expected`` — or the errors level off: fitted with
  p fixed at ``expected`` and a floor, e(l) = e∞ + a₁l^{−p} + a₂l^{−p−1} + a₃l^{−p−2}, the floor
  e∞ is more than 3 standard errors from 0 (a biased reference, or an order below
  ``expected``), and that floor model fits (χ² test) or fits about as well as the
  three-term one (a kink in the errors, where the step of the maximum moves, is no floor);
- ``confirmed``: the three-term interval contains ``expected`` and is at most ``precision``
  wide either side; or the two-term interval is, and the three-term interval contains
  ``expected`` too;
- ``inconclusive``: anything else, with the reason: intervals wider than the precision, the two
  models disagreeing at a precision the three-term one does not yet reach, fewer than three
  resolved points (|e| > 3 standard errors), a model that does not fit (χ² p-value of the
  largest model below 0.001, or below 1 − confidence if that is smaller), paths that
  diverged, errors that are not finite.

The rule's false-alarm rate (a correct scheme rejected) and its power are measured on the
exact Euler error sequences of real schemes plus Monte Carlo noise at 1M–256M paths
(tests/test_order_fit.py, benchmarks/bench_order_rule.py; the table is in
benchmarks/RESULTS.md): at most 4.3% rejected over l = 2…64, where the two-term interval
alone rejected up to 89% at 256M.  The variances are known (standard errors from many
paths), so scatter beyond them is not absorbed into V: the χ² test judges it.

Exact errors (standard errors all 0, from the exact moment engine): there is no noise, so
the interval is a truncation-error estimate, not a confidence interval.  The two-term model
solved exactly through each three consecutive points gives a sequence of estimates p_j
whose error falls like l⁻²; the order is the last of them and the interval is that value
± (the change from the one before + 10⁻⁶, for rounding).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from sdesim.estimators.profile import Profile, model_fit

RESOLVED_Z = 3.0          # a point is resolved when |e| > 3 standard errors
MIN_POINTS = 3            # the two-term model has three parameters
MISFIT_PVALUE = 1e-3      # below this χ² p-value (or 1 − confidence, if smaller) the model does not fit
EXACT_FLOOR = 1e-6        # exact errors: the interval is at least this wide either side (rounding)
THREE_TERM_POINTS = 5     # the three-term model (four parameters) is fitted from five points on
FLOOR_Z = 3.0             # a floor e∞ this many standard errors from 0 rejects (0.27% false alarms when there is none)
MODEL = "e(l) = C₁ l^−p + C₂ l^−p−1 (+ C₃ l^−p−2)"


@dataclass(frozen=True)
class OrderFit:
    """The fitted order with its interval and verdict, and the data it was fitted to."""

    order: float
    ci: tuple                   # (low, high); ±inf where the interval reaches the edge of the search range
    kind: str                   # "confirmed", "rejected" or "inconclusive"
    verdict: str                # the words: which of the three, and why
    constant: float             # C₁
    second: float               # C₂
    l: tuple                    # the l values fitted
    error: np.ndarray           # the errors fitted
    covariance: np.ndarray      # their covariance (zeros: exact values)
    expected: float
    precision: float
    confidence: float
    reduced_chi2: float = math.nan
    pvalue: float = math.nan    # χ² goodness of fit of the two-term model
    interval_kind: str = "profile likelihood"
    diverged: tuple = ()        # paths that blew up, per point
    third: float = 0.0          # C₃ (0 where the two-term model is reported)
    models: dict = field(default_factory=dict)   # "two", "three": (p̂, (low, high)) of each model fitted
    floor: tuple = (math.nan, math.nan)          # e∞ and its standard error, p fixed at expected

    @property
    def confirmed(self) -> bool:
        return self.kind == "confirmed"

    @property
    def half_width(self) -> float:
        return (self.ci[1] - self.ci[0]) / 2.0

    @property
    def used(self) -> tuple:
        return self.l

    @property
    def exact(self) -> bool:
        return not np.any(self.covariance)

    @property
    def local_slopes(self) -> np.ndarray:
        return local_slopes(self.l, self.error)

    def curve(self, l) -> np.ndarray:
        """The fitted C₁ l^{−p} + C₂ l^{−p−1} at ``l``."""
        l = np.asarray(l, float)
        return (self.constant * l ** -self.order + self.second * l ** (-self.order - 1.0)
                + self.third * l ** (-self.order - 2.0))

    def to_dict(self) -> dict:
        """The fit as plain data for the JSON record: the order, its interval, the verdict and the fit's details."""
        return {"order": self.order, "order_ci": list(self.ci), "kind": self.kind, "verdict": self.verdict,
                "constant": self.constant, "second": self.second, "l": list(self.l),
                "expected": self.expected, "precision": self.precision, "confidence": self.confidence,
                "reduced_chi2": self.reduced_chi2, "pvalue": self.pvalue, "interval": self.interval_kind,
                "third": self.third, "model": MODEL, "local_slopes": self.local_slopes,
                "models": {k: {"order": v[0], "order_ci": list(v[1])} for k, v in self.models.items()},
                "floor": self.floor[0], "floor_stderr": self.floor[1]}


def local_slopes(l, e) -> np.ndarray:
    """−Δ log|e| / Δ log l between consecutive points (for display; the fit does not use them)."""
    l, e = np.asarray(l, float), np.abs(np.asarray(e, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.diff(np.log(e)) / np.diff(np.log(l))


# --- arguments --------------------------------------------------------------------------------

def check_precision(precision) -> float:
    if isinstance(precision, bool) or not isinstance(precision, numbers.Real) or not 0 < precision < 1:
        raise ValueError(f"precision (the largest half-width of the interval for p that can confirm an order) "
                         f"must be a number in (0, 1), got {precision!r}")
    return float(precision)


def check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def _inputs(l, error, stderr):
    l = np.asarray(l, dtype=float)
    e = np.asarray(error, dtype=float)
    if l.ndim != 1 or e.shape != l.shape:
        raise ValueError(f"l and error must be 1-d arrays of one length, got shapes {l.shape} and {e.shape}")
    if l.size < 1:
        raise ValueError("an order fit needs at least one l value (and three to judge an order)")
    if not np.all(np.isfinite(l)) or np.any(l <= 0) or np.any(np.diff(l) <= 0):
        raise ValueError(f"l must be positive, finite and increasing, got {l.tolist()}")
    s = np.asarray(stderr, dtype=float)
    if s.shape == l.shape:
        if np.any(s < 0):
            raise ValueError(f"stderr must be >= 0, got {s.tolist()}")
        cov = np.diag(np.where(np.isfinite(s), s, np.nan) ** 2)
    elif s.shape == (l.size, l.size):
        cov = 0.5 * (s + s.T)
        if np.any(np.diag(cov) < 0):
            raise ValueError("a covariance matrix of the errors must have a non-negative diagonal")
    else:
        raise ValueError(f"stderr must be one standard error per l (shape {l.shape}) or the covariance matrix of "
                         f"the errors (shape {(l.size, l.size)}), got shape {s.shape}")
    return l, e, cov


# --- the fit ------------------------------------------------------------------------------------

def fit_order(l, error, stderr, *, expected: float = 1.0, precision: float = 0.1, confidence: float = 0.95,
              diverged=None) -> OrderFit:
    """Fit e(l) = C₁ l^{−p} + C₂ l^{−p−1} and judge order ``expected`` (see the module docstring).

    ``stderr``: one standard error per point (independent errors), the covariance matrix of
    the errors (correlated ones), or zeros (exact errors).  ``diverged``: per point, the
    number of paths that blew up; any makes the verdict inconclusive.
    """
    l, e, cov = _inputs(l, error, stderr)
    if isinstance(expected, bool) or not isinstance(expected, numbers.Real) or not np.isfinite(expected):
        raise ValueError(f"expected (the order to judge) must be a finite number, got {expected!r}")
    rule = dict(expected=float(expected), precision=check_precision(precision),
                confidence=check_confidence(confidence))
    variances = np.diag(cov)
    exact = bool(np.all(variances == 0))
    if not exact and np.any(variances == 0):
        raise ValueError("stderr must be all > 0 (Monte Carlo errors) or all 0 (exact errors); got 0 at l = "
                         f"{l[variances == 0].tolist()}")

    blown = () if diverged is None else tuple(int(v) for v in np.broadcast_to(diverged, l.shape))

    def inconclusive(why, order=math.nan, ci=(math.nan, math.nan), constants=(math.nan, math.nan), **extra):
        return OrderFit(order, ci, "inconclusive", f"order {expected:g} inconclusive: {why}", *constants,
                        tuple(l.tolist()), e, cov, **rule, **extra, diverged=blown)

    if any(blown):
        bad = [f"{v:g}" for v, b in zip(l, blown) if b]
        return inconclusive(f"paths blew up (NaN or inf) at l = {', '.join(bad)}; the weak error is not defined there")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(cov))):
        bad = l[~(np.isfinite(e) & np.isfinite(variances))].tolist()
        return inconclusive(f"the error or its standard error is not finite at l = {bad}")
    if exact:
        return _exact_fit(l, e, cov, rule, inconclusive)
    return _monte_carlo_fit(l, e, cov, rule, inconclusive)


def _monte_carlo_fit(l, e, cov, rule, inconclusive):
    n = l.size
    expected, precision, confidence = rule["expected"], rule["precision"], rule["confidence"]
    pct = f"{100 * confidence:g}%"
    span = f"l = {l[0]:g}…{l[-1]:g}"
    if n < MIN_POINTS:
        return inconclusive(f"{n} points over {span}; the two-term fit needs at least {MIN_POINTS}")
    try:
        factor = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("the covariance matrix of the errors is not positive definite") from None
    whiten = np.linalg.inv(factor)
    # the variances are known (Monte Carlo standard errors from many paths), so the threshold is χ²₁'s;
    # scatter beyond them is a misfit of the model, judged by the χ² test below, not absorbed into V
    threshold = float(special.chdtri(1, 1.0 - confidence))
    fits = {name: model_fit(l, e, whiten, terms, threshold)
            for name, terms in (("two", 2), ("three", 3)) if n >= (MIN_POINTS if terms == 2 else THREE_TERM_POINTS)}
    models = {name: (f["order"], f["ci"]) for name, f in fits.items()}
    largest = fits["three"] if "three" in fits else fits["two"]
    floor, floor_se, floor_chi2, floor_parameters = (_floor(l, e, whiten, expected) if n >= MIN_POINTS + 1
                                                     else (math.nan, math.nan, math.nan, 0))
    # a floor is named only where the floor model describes the errors: it fits, or fits them about as well
    # as the free-order model (its χ² above that model's by less than the 95% quantile on the residual degrees
    # of freedom); a kink, where the step of the maximum moves, is no floor
    residual_dof = n - floor_parameters
    floor_fits = (residual_dof == 0 or special.chdtrc(residual_dof, floor_chi2) >= MISFIT_PVALUE
                  or floor_chi2 <= largest["chi2"] + special.chdtri(residual_dof, 0.05))
    dof = n - largest["parameters"]
    reduced = largest["chi2"] / dof if dof > 0 else math.nan
    pvalue = float(special.chdtrc(dof, largest["chi2"])) if dof > 0 else math.nan
    hull = (min(f["ci"][0] for f in fits.values()), max(f["ci"][1] for f in fits.values()))
    extra = dict(reduced_chi2=reduced, pvalue=pvalue, models=models, floor=(floor, floor_se))
    where = "; ".join(f"{name}-term p = {f['order']:.3f}, {pct} interval [{f['ci'][0]:.3f}, {f['ci'][1]:.3f}]"
                      for name, f in fits.items()) + f" over {span}"
    gof = "" if dof <= 0 else f", χ² p-value {pvalue:.2g}"

    def verdict(kind, why, fit, ci):
        return OrderFit(fit["order"], ci, kind, f"order {expected:g} {kind}: {why}", *fit["constants"][:2],
                        tuple(l.tolist()), e, cov, **rule, **extra,
                        third=fit["constants"][2] if fit["terms"] == 3 else 0.0)

    if math.isfinite(floor) and abs(floor) > FLOOR_Z * floor_se and floor_fits:
        return verdict("rejected", f"the errors level off at e∞ = {floor:.3g} ± {floor_se:.2g} "
                       f"({abs(floor) / floor_se:.1f} standard errors from 0; fitted with p fixed at {expected:g} "
                       f"and three terms) instead of vanishing like l^−{expected:g}: a biased reference (off by about "
                       f"e∞), or an order below {expected:g}; {where}", largest, hull)
    stderr = np.sqrt(np.diag(cov))
    resolved = np.abs(e) > RESOLVED_Z * stderr
    if resolved.sum() < MIN_POINTS:
        noise = ", ".join(f"{v:g}" for v in l[~resolved])
        return inconclusive(f"{where}; only {int(resolved.sum())} of {n} errors are resolved (|e| > "
                            f"{RESOLVED_Z:g} standard errors): l = {noise} are at the Monte Carlo noise floor; "
                            "use more paths or smaller l", largest["order"], hull, largest["constants"][:2], **extra)
    if dof > 0 and pvalue < min(MISFIT_PVALUE, 1.0 - confidence):
        return inconclusive(f"{where}, but the {largest['terms']}-term model does not fit the errors (χ² p-value "
                            f"{pvalue:.2g}, reduced χ² {reduced:.3g}); the pre-asymptotic range is wider than the "
                            "model: start the fit at a larger l", largest["order"], hull, largest["constants"][:2],
                            **extra)
    inside = {name: f["ci"][0] <= expected <= f["ci"][1] for name, f in fits.items()}
    narrow = {name: (f["ci"][1] - f["ci"][0]) / 2.0 <= precision for name, f in fits.items()}
    alone = "" if "three" in fits else f" (too few points for the three-term check: it needs {THREE_TERM_POINTS})"
    if not any(inside.values()):
        return verdict("rejected", f"{where}{gof}; {'both intervals exclude' if len(fits) > 1 else 'the interval excludes'} "
                       f"{expected:g}{alone}", largest, hull)
    if "three" in fits and inside["three"] and narrow["three"]:
        f = fits["three"]
        return verdict("confirmed", f"{where}{gof}; the three-term interval contains {expected:g} and its half-width "
                       f"{(f['ci'][1] - f['ci'][0]) / 2:.3g} ≤ precision {precision:g}", f, f["ci"])
    if all(inside.values()) and narrow["two"]:
        f = fits["two"]
        return verdict("confirmed", f"{where}{gof}; {'both intervals contain' if len(fits) > 1 else 'the interval contains'} "
                       f"{expected:g} and the two-term half-width {(f['ci'][1] - f['ci'][0]) / 2:.3g} ≤ precision "
                       f"{precision:g}{alone}", f, f["ci"])
    if not inside["two"]:
        why = (f"the two-term interval excludes {expected:g} but the three-term one, which allows for the next power "
               f"of 1/l, contains it and is wider than the precision {precision:g}: the two-term model's truncation "
               "shows at this precision; more paths narrow the three-term interval")
    else:
        why = (f"the interval contains {expected:g} but its half-width {(hull[1] - hull[0]) / 2:.3g} exceeds the "
               f"precision {precision:g}: use more paths or a wider range of l{alone}")
    return verdict("inconclusive", f"{where}{gof}; {why}", largest, hull)


def _floor(l, e, whiten, expected) -> tuple:
    """(e∞, its standard error, the model's χ², its parameters) in e(l) = e∞ + a₁l^{−p} + a₂l^{−p−1} + a₃l^{−p−2} with p = ``expected``: GLS."""
    design = np.column_stack([np.ones_like(l)] + [l ** -(expected + j) for j in range(min(3, l.size - 1))])
    a = whiten @ design
    information = a.T @ a
    try:
        inverse = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return math.nan, math.nan
    y = whiten @ e
    estimate = inverse @ a.T @ y
    residual = y - a @ estimate
    return float(estimate[0]), float(math.sqrt(max(inverse[0, 0], 0.0))), float(residual @ residual), design.shape[1]


def _exact_fit(l, e, cov, rule, inconclusive):
    """The two-term model through each three consecutive points; the change between the last two estimates."""
    n = l.size
    span = f"l = {l[0]:g}…{l[-1]:g}"
    if n < MIN_POINTS + 1:
        return inconclusive(f"{n} exact points over {span}; the error estimate of the exact fit compares the "
                            f"two-term fits through the last two triples of points, so it needs at least "
                            f"{MIN_POINTS + 1}")
    estimates, constants = [], None
    for j in range(n - 2):
        ll, ee = l[j:j + 3], e[j:j + 3]
        scale = np.max(np.abs(ee)) or 1.0
        profile = Profile(ll, ee, np.eye(3) / scale)      # errors relative to their size
        p = _through_three(ll / profile.l_ref, ee, profile.minimum()[0])
        estimates.append(p)
        if j == n - 3:
            constants = profile.constants(p)
    p_hat = estimates[-1]
    change = abs(estimates[-1] - estimates[-2])
    # the exact values carry rounding (about 1e-12 of the moments they are differences of), which
    # moves the three-point estimates by up to about 1e-9 at the finest l: p is not known better than 1e-6
    half = change + EXACT_FLOOR
    ci = (p_hat - half, p_hat + half)
    where = (f"exact errors, p = {p_hat:.4f} from the two-term fit through l = {l[-3]:g}, {l[-2]:g}, {l[-1]:g}; "
             f"interval ±{half:.2g}, the change from the fit through l = {l[-4]:g}, {l[-3]:g}, {l[-2]:g} "
             f"(a truncation-error estimate: it falls like l⁻²) + {EXACT_FLOOR:g} for rounding")
    return _judge(p_hat, ci, constants, rule, l, e, cov, where, "extend l", {},
                  interval_kind="truncation estimate")


def _through_three(u, e, p0):
    """The p (near ``p0``) at which the model through the first two points passes through the third, to rounding."""
    def miss(p):
        basis = np.column_stack([u[:2] ** -p, u[:2] ** (-p - 1.0)])
        c1, c2 = np.linalg.solve(basis, e[:2])
        return c1 * u[2] ** -p + c2 * u[2] ** (-p - 1.0) - e[2]

    for width in (1e-6, 1e-4, 1e-2):
        lo, hi = p0 - width, p0 + width
        if miss(lo) * miss(hi) < 0:
            return float(optimize.brentq(miss, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))
    return p0


def _judge(p_hat, ci, constants, rule, l, e, cov, where, remedy, extra, interval_kind="profile likelihood"):
    expected, precision = rule["expected"], rule["precision"]
    half = (ci[1] - ci[0]) / 2.0
    if not ci[0] <= expected <= ci[1]:
        kind, why = "rejected", f"{where}; the interval excludes {expected:g}"
    elif half <= precision:
        kind, why = "confirmed", f"{where}; half-width {half:.3g} ≤ precision {precision:g}"
    else:
        kind, why = "inconclusive", (f"{where}; the interval contains {expected:g} but its half-width {half:.3g} "
                                     f"exceeds the precision {precision:g}: {remedy}")
    return OrderFit(p_hat, ci, kind, f"order {expected:g} {kind}: {why}", *constants, tuple(l.tolist()), e, cov,
                    **rule, **extra, interval_kind=interval_kind)


def refit(fit: OrderFit, *, expected=None, precision=None, confidence=None) -> OrderFit:
    """The same data judged by another rule (``expected``, ``precision``, ``confidence``)."""
    return fit_order(fit.l, fit.error, fit.covariance, diverged=fit.diverged or None,
                     expected=fit.expected if expected is None else expected,
                     precision=fit.precision if precision is None else precision,
                     confidence=fit.confidence if confidence is None else confidence)
