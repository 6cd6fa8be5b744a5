"""Checks of SDE approximations for your own test suite, as numpy.testing serves array code.

Assertions (no extra dependencies)::

    from sdesim.testing import assert_agree, assert_matches_exact, assert_weak_order

- `assert_within_stderr`: an estimate ± standard error against an expected value;
- `assert_matches_exact`: a simulation's mean against exact values (closed form, exact moments);
- `assert_agree`: two simulations agree within their combined Monte Carlo error;
- `assert_identical_results`: two results are bit-for-bit equal (exact invariants);
- `assert_weak_order`: a fitted weak order and its confidence interval lie in [lower, upper];
- `assert_one_step_moments`: one-step moments of SVAG and the SDE (Lemmas 4.6, 4.7), or of
  your own step (``step=``);
- `simulator_study`: the weak-order study of ``sdesim converge`` on your own simulator.

Any simulator's samples become a `Result` for these checks with `sdesim.result.Result.from_samples`.

Hypothesis strategies that draw valid random problems live in
`sdesim.testing.strategies` (``from sdesim.testing import strategies``), which
imports hypothesis; importing `sdesim.testing` alone does not.
"""

from sdesim.testing.assertions import (assert_agree, assert_identical_results, assert_matches_exact,
                                       assert_one_step_moments, assert_weak_order, assert_within_stderr)
from sdesim.testing.outside_order import simulator_study

__all__ = ["assert_agree", "assert_identical_results", "assert_matches_exact", "assert_one_step_moments",
           "assert_weak_order", "assert_within_stderr", "simulator_study"]
