"""Lesson 5's exercise: κ* = C²(1 + N/G) of Theorem 5.6 from the baseline's measured N and G.

Right when the answer is within 2% (rounding of the numbers on screen) of κ* computed by
`sdesim.estimators.scaling_rule.largest_kappa` from the same measurements, compared with
`sdesim.testing.assert_within_stderr`.
"""

from __future__ import annotations

from sdesim.estimators.scaling_rule import SQRT2, largest_kappa
from sdesim.lessons.exercises.answers import number
from sdesim.lessons.view import Verdict
from sdesim.testing import assert_within_stderr

ROUNDING = 0.02   # relative: the numbers on screen are rounded


def _close(value, target) -> bool:
    try:
        assert_within_stderr(value, 0.0, target, atol=ROUNDING * abs(target), name="κ*")
    except AssertionError:
        return False
    return True


def check(answer, noise: float, signal: float, C: float = SQRT2) -> Verdict:
    """Is ``answer`` κ* for the baseline's N = ``noise`` and G = ``signal`` at closeness ``C``?"""
    value = number(answer)
    if value is None:
        return Verdict(False, f"Type one number, κ* (for example 12.5); {str(answer)!r} is not a number.")
    kappa_star = float(largest_kappa(noise, signal, C))
    if _close(value, kappa_star):
        return Verdict(True, f"κ* = C²(1 + N/G) = {C**2:.3g} × (1 + {noise / signal:.4g}) = {kappa_star:.4g}: "
                             "beyond it SGD along the linear rule cannot stay C-close to the baseline (Theorem "
                             "5.6). The condition is sufficient, not necessary: the rule may break earlier, as the "
                             "picture shows.")
    if _close(value, C**2 * noise / signal):
        why = "that is C²·N/G, the approximation for N/G ≫ 1: the theorem's bound is C²(1 + N/G)."
    elif _close(value, 1.0 + noise / signal) or _close(value, C * (1.0 + noise / signal)):
        why = "the bound multiplies 1 + N/G by C², not by 1 or C."
    else:
        why = f"κ* = C²(1 + N/G) with C² = {C**2:.3g} and the baseline's N/G."
    return Verdict(False, f"{value:g} is not κ*; {why}")
