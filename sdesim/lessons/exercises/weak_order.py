"""Lesson 4's exercise: the weak order p of SVAG in l (Theorem 4.3), checked against an exact study.

The answer is right when `sdesim.testing.assert_weak_order` confirms it on the exact engine's errors
(its interval, a truncation-error estimate, contains the answer and is narrower than 0.25 either side).
"""

from __future__ import annotations

from sdesim.lessons.exercises.answers import number
from sdesim.lessons.view import Verdict
from sdesim.testing import assert_weak_order


def check(answer, study=None) -> Verdict:
    """Is ``answer`` (a number, or text holding one) the weak order of SVAG?  ``study``: an exact study
    (default: `sdesim.demos.weak_order.exact_study`, |x|² over l = 1 … 16)."""
    value = number(answer)
    if value is None:
        return Verdict(False, f"Type one number, the order p in e(l) ≈ C l^(−p) (for example 0.5 or 2); "
                              f"{str(answer)!r} is not a number.")
    if study is None:
        from sdesim.demos.weak_order import exact_study
        study = exact_study()
    try:
        fit = assert_weak_order(study, expected=value)
    except AssertionError as failure:
        verdict = str(failure).splitlines()[1].strip().removeprefix("verdict: ")
        if "inconclusive" in verdict:
            return Verdict(False, f"This study cannot settle any order, so it cannot check {value:g}: {verdict}. "
                                  "Check against the default study (l = 1 … 16).")
        return Verdict(False, f"Order {value:g} is not what the exact errors show: {verdict}. Look at how e(l) "
                              "changes when l doubles: halving means p = 1.")
    return Verdict(True, f"Order {value:g} is confirmed: the exact errors give p = {fit.order:.4f} "
                         f"(interval [{fit.ci[0]:.4f}, {fit.ci[1]:.4f}]). Each doubling of l halves e(l): SVAG is a "
                         "weak order-1 approximation of the SDE (Theorem 4.3).")
