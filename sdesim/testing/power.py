"""False-alarm rates, many comparisons, and how many paths a check needs.

A k-standard-error check of one entry fails by chance, when nothing is wrong, with the
two-sided normal tail probability

    α(k) = 2(1 − Φ(k)) = erfc(k/√2)         (k = 5: 5.7·10⁻⁷;  k = 4: 6.3·10⁻⁵;  k = 3: 2.7·10⁻³)

and a call that compares n entries fails with probability at most n·α(k) (Bonferroni's bound,
`false_alarm_rate`).  To hold a whole family of n comparisons to a rate α, compare each at
k = Φ⁻¹(1 − α/(2n)) (`bonferroni_sigmas`).  To see an effect δ on a quantity with per-path
standard deviation sd with probability ``power``, the check needs

    N = s · ((k + z_power) · sd / δ)²       paths (s = 1 against exact values, 2 for two runs of N paths each)

(`paths_needed`): the check fails when |δ + noise| > k·se, with se = sd·√(s/N), which has
probability about Φ(δ/se − k).  `weak_order_paths_needed` answers the same question for
`assert_weak_order`, by the rule itself on noisy copies of the errors you expect.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import special

from sdesim.estimators.order import check_confidence, check_precision, fit_order
from sdesim.testing.assertions import DEFAULT_SIGMAS, ORDER_CONFIDENCE, ORDER_PRECISION

__all__ = ["false_alarm_rate", "bonferroni_sigmas", "paths_needed", "weak_order_paths_needed"]

MAX_PATHS = 1e13   # the search of weak_order_paths_needed gives up beyond this many paths per level


def _positive(name: str, value, *, integer: bool = False) -> float:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value <= 0:
        what = "an integer >= 1" if integer else "a finite number > 0"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def _probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a probability in (0, 1), got {value!r}")
    return float(value)


def false_alarm_rate(sigmas: float = DEFAULT_SIGMAS, comparisons: int = 1) -> float:
    """The chance that a correct simulation fails: min(1, n·erfc(k/√2)) for n comparisons at k standard errors."""
    _positive("sigmas", sigmas)
    _positive("comparisons", comparisons, integer=True)
    return min(1.0, comparisons * math.erfc(sigmas / math.sqrt(2.0)))


def bonferroni_sigmas(comparisons: int, rate: float | None = None) -> float:
    """The k at which n comparisons together fail by chance with probability at most ``rate``: Φ⁻¹(1 − rate/(2n)).

    ``rate`` defaults to that of one comparison at 5 standard errors (5.7·10⁻⁷), so
    ``bonferroni_sigmas(1) == 5`` and ``bonferroni_sigmas(1000)`` is about 6.2.  Pass the
    result as ``sigmas=`` to every assertion of the family.
    """
    _positive("comparisons", comparisons, integer=True)
    rate = false_alarm_rate() if rate is None else _probability("rate (the family's false-alarm rate)", rate)
    return float(-special.ndtri(rate / (2.0 * comparisons)))


def paths_needed(effect, sd, *, sigmas: float = DEFAULT_SIGMAS, power: float = 0.99, samples: int = 1) -> int:
    """Paths for a k-standard-error check to catch an error of size ``effect`` with probability ``power``.

    N = samples·((k + Φ⁻¹(power))·sd/effect)², rounded up; ``sd`` is the standard
    deviation of one path's value (of the observable, or of the one-step increment's
    power), ``samples`` 1 for a check against exact values (`assert_matches_exact`,
    `assert_one_step_moments`) and 2 for two runs of N paths each (`assert_agree`).
    Example: a bug that moves E x by 0.01 where x has sd 1 needs 536,754 paths at k = 5 (power 0.99).
    """
    _positive("effect (the size of the error to catch)", effect)
    _positive("sd (the standard deviation of one path's value)", sd)
    _positive("sigmas", sigmas)
    _probability("power", power)
    if samples not in (1, 2):
        raise ValueError(f"samples must be 1 (against exact values) or 2 (two runs of N paths), got {samples!r}")
    return int(math.ceil(samples * ((sigmas - special.ndtri(1.0 - power)) * sd / effect) ** 2))


def weak_order_paths_needed(l, errors, sd, *, expected: float = 1.0, precision: float = ORDER_PRECISION,
                            confidence: float = ORDER_CONFIDENCE, power: float = 0.99, draws: int = 200,
                            seed: int = 0) -> int:
    """Paths per level at which `assert_weak_order` is conclusive about order ``expected`` in a share ``power`` of runs.

    ``errors`` are the weak errors e(l) you expect (exact ones from `ExactMoments`, or a
    pilot run's) and ``sd`` the standard deviation of one path's value at each l, so that N
    paths give standard errors sd/√N.  The search doubles N from the first N at which the
    errors themselves (no noise) are confirmed until at most 1 − ``power`` of ``draws`` noisy
    copies e(l) + sd/√N·Z are inconclusive by the same rule (`fit_order` with ``precision``
    and ``confidence``).  More paths cure an inconclusive verdict; they do not cure the
    rule's rejections of a correct order (about 0.2%, its floor test), which stay the
    false-alarm rate of `assert_weak_order`.  Raises ValueError when no N up to 10¹³ does.
    """
    l_arr, e, s = (np.asarray(v, dtype=np.float64) for v in (l, errors, sd))
    if not (l_arr.ndim == 1 and e.shape == l_arr.shape and s.shape == l_arr.shape):
        raise ValueError(f"l, errors and sd must be 1-d of one length, got shapes {l_arr.shape}, {e.shape}, {s.shape}")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("errors must be finite and sd finite and > 0 at every l")
    rule = dict(expected=expected, precision=check_precision(precision), confidence=check_confidence(confidence))
    _probability("power", power)
    _positive("draws", draws, integer=True)

    def kind(paths, noise=None):
        se = s / math.sqrt(paths)
        return fit_order(l_arr, e if noise is None else e + se * noise, se, **rule).kind

    def confirmed(paths):
        return kind(paths) == "confirmed"

    low, high = 1.0, 1.0
    while not confirmed(high):
        low, high = high, high * 4.0
        if high > MAX_PATHS:
            raise ValueError(f"the errors you expect do not confirm order {expected:g} at precision {precision:g} "
                             f"even without noise at {MAX_PATHS:.0e} paths per level: {fit_order(l_arr, e, s / 1e6, **rule).verdict}")
    while high > 1.05 * low:                       # the first N (within 5%) at which the errors alone confirm
        middle = math.sqrt(low * high)
        low, high = (low, middle) if confirmed(middle) else (middle, high)
    noise = np.random.default_rng(seed).standard_normal((draws, l_arr.size))
    paths = high
    history = []
    while (count := sum(kind(paths, z) == "inconclusive" for z in noise)) > (1.0 - power) * draws:
        history.append(count)
        if paths * 2.0 > MAX_PATHS or (len(history) > 3 and count >= history[-4]):
            raise ValueError(f"order {expected:g} stays inconclusive in {count} of {draws} noisy studies at "
                             f"{paths:.3g} paths per level, and more paths did not lower that over the last doublings "
                             f"(a power of {power:g} is out of reach for these errors: ask for less, or use more draws)")
        paths *= 2.0
    return int(math.ceil(paths))
