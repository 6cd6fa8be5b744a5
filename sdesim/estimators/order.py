"""The weak order p of e(l) ≈ C₁ l^{−p} + C₂ l^{−p−1}, its interval, and a three-way verdict.

The model.  The weak error of an order-p scheme expands as e(l) = C₁ l^{−p} + C₂ l^{−p−1} + …
(Talay–Tubaro), so a pure power law fitted to resolved errors is biased by the second term,
and its interval does not cover.  `fit_order` fits both terms to the *signed* errors (no
logarithms, so points near the noise floor and sign changes are handled), over the l values
it is given: the fit range is fixed before the data are seen, never trimmed by them.

Monte Carlo errors (a standard error per point, or their full covariance V when they are
correlated, e.g. through a shared Monte Carlo reference): generalized least squares.  For a
fixed p the model is linear in (C₁, C₂), so χ²(p) = min over C₁, C₂ of rᵀV⁻¹r is exact, and
p is found by minimizing this profile.  Without a constraint the model would not identify p
(C₁ = 0 turns C₂ l^{−p−1} into a leading term of order p + 1), so |C₂/C₁| ≤ 2·l_min: at
the smallest l fitted, the second term is at most twice the first.  The interval is the
profile-likelihood one,

    { p : χ²(p) − χ²(p̂) ≤ q },   q = χ²₁ quantile at the confidence level.

The variances are known (standard errors from many paths), so scatter beyond them is not
absorbed into V: the χ² goodness-of-fit test judges it, and a model that does not fit makes
the verdict inconclusive.  The interval's coverage and the verdicts' power are measured in
the test suite (tests/test_order_fit.py) and recorded in benchmarks/RESULTS.md.

Exact errors (standard errors all 0, from the exact moment engine): there is no noise, so
the interval is a truncation-error estimate, not a confidence interval.  The two-term model
solved exactly through each three consecutive points gives a sequence of estimates p_j
whose error falls like l⁻²; the order is the last of them and the interval is that value
± (the change from the one before + 10⁻⁶, for rounding).

The verdict (one rule for every study, assertion and validation claim):

- ``confirmed``: the interval contains ``expected`` and its half-width is at most ``precision``;
- ``rejected``: the interval excludes ``expected``;
- ``inconclusive``: anything else, with the reason: an interval wider than the precision, fewer
  than three resolved points (|e| > 3 standard errors), a model that does not fit (χ² p-value
  below 0.001, or below 1 − confidence if that is smaller), paths that diverged, errors that
  are not finite.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

RESOLVED_Z = 3.0          # a point is resolved when |e| > 3 standard errors
MIN_POINTS = 3            # the two-term model has three parameters
MISFIT_PVALUE = 1e-3      # below this χ² p-value (or 1 − confidence, if smaller) the model does not fit
P_RANGE = (-2.0, 6.0)     # where p is searched for
EXACT_FLOOR = 1e-6        # exact errors: the interval is at least this wide either side (rounding)
SECOND_TERM = 2.0         # |C₂/C₁| ≤ 2·l_min: at the smallest l fitted, the second term is at most twice the first
_GRID = np.linspace(*P_RANGE, 801)
_ZOOM = 17                # points per zoom
MODEL = "e(l) = C₁ l^−p + C₂ l^−p−1"


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
        return self.constant * l ** -self.order + self.second * l ** (-self.order - 1.0)

    def to_dict(self) -> dict:
        return {"order": self.order, "order_ci": list(self.ci), "kind": self.kind, "verdict": self.verdict,
                "constant": self.constant, "second": self.second, "l": list(self.l),
                "expected": self.expected, "precision": self.precision, "confidence": self.confidence,
                "reduced_chi2": self.reduced_chi2, "pvalue": self.pvalue, "interval": self.interval_kind,
                "model": MODEL, "local_slopes": self.local_slopes}


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


class _Profile:
    """χ²(p) minimized over (C₁, C₂) with |C₂| ≤ bound·|C₁|, for errors e with covariance V = L Lᵀ.

    Without the bound the model would not identify p: C₁ = 0 turns C₂ l^{−p−1} into a
    leading term of order p + 1.  The minimum lies inside the cone (the plain least-squares
    solution) or on one of its edges C₂ = ±bound·C₁ (a one-parameter fit).  Every method
    takes an array of p values at once.  l is scaled by its geometric mean l_ref.
    """

    def __init__(self, l, e, inverse_factor, second_term=SECOND_TERM):
        self.l_ref = math.exp(np.mean(np.log(l)))
        self.log_u = np.log(l / self.l_ref)
        self.whiten = inverse_factor                      # L⁻¹
        self.y = inverse_factor @ e
        self.bound = second_term * l[0] / self.l_ref     # |C₂/C₁| ≤ 2·l_min, in units of l_ref

    def __call__(self, p):
        """(χ², C₁, C₂) at each p, the constants in units of l_ref."""
        p = np.atleast_1d(np.asarray(p, float))[:, None]
        a = np.exp(-p * self.log_u) @ self.whiten.T                 # whitened u^{−p}, (len(p), n)
        b = np.exp(-(p + 1.0) * self.log_u) @ self.whiten.T         # whitened u^{−p−1}
        y, bound = self.y, self.bound
        yy = y @ y
        aa, ab, bb = (a * a).sum(1), (a * b).sum(1), (b * b).sum(1)
        ay, by = a @ y, b @ y
        with np.errstate(divide="ignore", invalid="ignore"):
            det = aa * bb - ab * ab
            c1 = (bb * ay - ab * by) / det
            c2 = (aa * by - ab * ay) / det
            chi2 = np.where(np.abs(c2) <= bound * np.abs(c1), yy - c1 * ay - c2 * by, np.inf)
            for k in (bound, -bound):
                ww, wy = aa + 2 * k * ab + k * k * bb, ay + k * by
                edge = yy - wy * wy / ww
                better = edge < chi2
                c1 = np.where(better, wy / ww, c1)
                c2 = np.where(better, k * wy / ww, c2)
                chi2 = np.where(better, edge, chi2)
        return np.where(np.isfinite(chi2), np.maximum(chi2, 0.0), np.inf), c1, c2

    def constants(self, p):
        """(C₁, C₂) in units of l at p."""
        _, c1, c2 = self(p)
        return float(c1[0] * self.l_ref**p), float(c2[0] * self.l_ref ** (p + 1.0))

    def minimum(self):
        """(p̂, χ²(p̂), χ² on the search grid): the grid's best point, zoomed into between its neighbours."""
        chi2 = self(_GRID)[0]
        i = int(np.argmin(chi2))
        lo, hi = _GRID[max(i - 1, 0)], _GRID[min(i + 1, _GRID.size - 1)]
        for _ in range(3):       # each zoom narrows the bracket 8-fold: 0.02 → 4e-5
            zoom = np.linspace(lo, hi, _ZOOM)
            values = self(zoom)[0]
            j = int(np.argmin(values))
            lo, hi = zoom[max(j - 1, 0)], zoom[min(j + 1, _ZOOM - 1)]
        return float(zoom[j]), float(values[j]), chi2

    def crossings(self, inside, outside, level):
        """For each pair (``inside``, ``outside``) with χ² ≤ level at the first and > level at the second,
        the p between them where χ² = level (both ends of an interval in one evaluation per zoom)."""
        inside, outside = np.array(inside, float), np.array(outside, float)
        t = np.linspace(0.0, 1.0, _ZOOM)
        for _ in range(2):       # two zooms narrow each bracket 256-fold, then linear interpolation
            zoom = inside[:, None] + (outside - inside)[:, None] * t          # (pairs, _ZOOM)
            values = self(zoom.ravel())[0].reshape(zoom.shape)
            k = np.argmax(values > level, axis=1)    # the first point beyond the level (values[:, 0] is not)
            rows = np.arange(len(k))
            inside, outside = zoom[rows, k - 1], zoom[rows, k]
            below, above = values[rows, k - 1], values[rows, k]
        with np.errstate(invalid="ignore"):
            step = np.where(np.isfinite(above), (level - below) / (above - below), 0.0)
        return inside + (outside - inside) * step


def _monte_carlo_fit(l, e, cov, rule, inconclusive):
    n = l.size
    confidence = rule["confidence"]
    pct = f"{100 * confidence:g}%"
    span = f"l = {l[0]:g}…{l[-1]:g}"
    if n < MIN_POINTS:
        return inconclusive(f"{n} points over {span}; the two-term fit needs at least {MIN_POINTS}")
    try:
        factor = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("the covariance matrix of the errors is not positive definite") from None
    profile = _Profile(l, e, np.linalg.inv(factor))
    p_hat, chi2_min, chi2_grid = profile.minimum()
    dof = n - 3
    reduced = chi2_min / dof if dof > 0 else math.nan
    pvalue = float(special.chdtrc(dof, chi2_min)) if dof > 0 else math.nan
    # the variances are known (Monte Carlo standard errors from many paths), so the threshold is χ²₁'s;
    # scatter beyond them is a misfit of the model, judged by the χ² test below, not absorbed into V
    threshold = float(special.chdtri(1, 1.0 - confidence))
    ci = _interval(profile, p_hat, chi2_min, chi2_grid, threshold)
    constants = profile.constants(p_hat)
    extra = dict(reduced_chi2=reduced, pvalue=pvalue)
    stderr = np.sqrt(np.diag(cov))
    resolved = np.abs(e) > RESOLVED_Z * stderr
    where = f"p = {p_hat:.3f}, {pct} interval [{ci[0]:.3f}, {ci[1]:.3f}] over {span}"
    gof = "" if dof <= 0 else f", χ² p-value {pvalue:.2g}"
    if resolved.sum() < MIN_POINTS:
        floor = ", ".join(f"{v:g}" for v in l[~resolved])
        return inconclusive(f"{where}; only {int(resolved.sum())} of {n} errors are resolved (|e| > "
                            f"{RESOLVED_Z:g} standard errors): l = {floor} are at the Monte Carlo noise floor; "
                            "use more paths or smaller l", p_hat, ci, constants, **extra)
    if dof > 0 and pvalue < min(MISFIT_PVALUE, 1.0 - confidence):
        return inconclusive(f"{where}, but the two-term model does not fit the errors (χ² p-value {pvalue:.2g}, "
                            f"reduced χ² {reduced:.3g}); the pre-asymptotic range is wider than the model: "
                            "start the fit at a larger l", p_hat, ci, constants, **extra)
    return _judge(p_hat, ci, constants, rule, l, e, cov, f"{where}{gof}",
                  "use more paths or a wider range of l", extra)


def _interval(profile, p_hat, chi2_min, chi2_grid, threshold):
    """The ends of {p : χ²(p) − χ²(p̂) ≤ threshold}; ±inf where it reaches the edge of the search range.

    Where the set is not connected on the grid, its hull is taken (the wider interval).
    """
    level = chi2_min + threshold
    inside = np.flatnonzero(chi2_grid <= level)
    above = int(np.searchsorted(_GRID, p_hat))     # the grid points either side of p̂ belong to the hull
    first = min(int(inside[0]), above) if inside.size else above
    last = max(int(inside[-1]), above - 1) if inside.size else above - 1
    # the grid point just outside each end is beyond the level; the inner end (an inside point or p̂) is not
    ends = [-math.inf, math.inf]
    pairs = []
    if first > 0:
        pairs.append((0, min(_GRID[first], p_hat), _GRID[first - 1]))
    if last < _GRID.size - 1:
        pairs.append((1, max(_GRID[last], p_hat), _GRID[last + 1]))
    if pairs:
        which, inner, outer = zip(*pairs)
        for end, value in zip(which, profile.crossings(inner, outer, level)):
            ends[end] = float(value)
    return tuple(ends)


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
        profile = _Profile(ll, ee, np.eye(3) / scale)      # errors relative to their size
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
