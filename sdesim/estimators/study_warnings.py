"""What a weak-error study warns about in its record (``Study.warnings``: the table's footer, JSON ``warnings``).

- **A reference callable that leaves tests out.**  ``exact(name, times)`` returning None for a
  test sends that test to the next reference (`sdesim.estimators.references`); the warning
  names each such test and the reference it got.  A callable that answers no test at all is
  an error, raised before any path moves: it was passed to be used, and most often it
  expects other names than the study's (``x`` is called as ``x``, ``module:sin_x`` as ``sin_x``).
- **Heavy tails.**  At each recorded step the block statistics (`sdesim.kernels.stats.BlockStats`)
  give each block of paths its sum of squared deviations M2_b.  The step is flagged when the
  largest block holds more than half of Σ_b M2_b and at least 5 times its even share 1/B:

      s = max_b M2_b / Σ_b M2_b  >  max(1/2, 5/B)   (over the B blocks with at least half the
                                                      largest block's count of paths; B ≥ 6)

  In practice one path then holds half the squared deviations of all N paths.  With a finite
  variance that share vanishes as N grows; with E g² = ∞ it does not, so E g² (and perhaps
  E g) may not exist and the standard errors cannot be trusted: tan x on the arctan SDE under
  Euler–Maruyama, whose steps can land near π/2, gives s = 0.5–1 at h = 0.25.  For g = x on an
  Ornstein–Uhlenbeck process a false alarm needs one block's sample variance 10 times the
  others' (out of reach: P < 10⁻⁵⁰ at 50 paths a block); for |x|² one draw beyond 5.6σ at 50
  paths a block, 12σ at 1024 (about 3·10⁻⁸ and 10⁻³² a path).  Measured on Gaussian and
  chi-square blocks: 0 of 20 000 steps of 11 blocks of 50 (tests/test_study_warnings.py);
  Cauchy blocks are flagged at about 70% of steps.  x⁴ of a centred Gaussian, light but
  steep, is flagged at 1% of steps with 2 816 paths, and with 100 000 needs a draw beyond 7.5σ
  (10⁻⁸ a step).  The check costs one pass over the statistics a level already holds.
- **Non-finite values.**  The kernels drop a path whose state or any recorded test value is
  NaN or inf and count it as diverged, without saying which; with your own test functions
  the warning names them, since one that is not finite where the state is (1/x at 0) has no E g.
- **A problem written for another learning rate** (`sdesim.problems.custom.lr_mismatch`).
"""

from __future__ import annotations

import numpy as np

from sdesim.problems.custom import lr_mismatch

HEAVY_SHARE = 0.5       # the largest block's share of the squared deviations that flags a step
HEAVY_EXCESS = 5.0      # ... and the least multiple of its even share 1/B (so B ≥ 6 blocks)


def block_shares(stats, column: int) -> tuple:
    """(s, B) at each recorded step for one observable: s = max_b M2_b / Σ_b M2_b over the B blocks taking part.

    Only blocks with at least half the largest block's count of paths take part (a last,
    short block, or one thinned by diverged paths, would weigh by its count, not its tail).
    s is NaN where every M2_b is 0 (a constant test) or fewer than two blocks take part.
    """
    counts = stats.counts
    full = (counts >= 2) & (2 * counts >= counts.max(axis=0))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m2 = np.where(full, stats.m2s[:, :, column], 0.0)
        blocks = full.sum(axis=0)
        return np.where(blocks >= 2, m2.max(axis=0) / m2.sum(axis=0), np.nan), blocks


def dominant_block(stats, column: int) -> tuple:
    """(s, B, k) at the step k of largest s (`block_shares`); (NaN, 0, 0) where no step has one."""
    share, blocks = block_shares(stats, column)
    if not np.any(np.isfinite(share)):
        return float("nan"), 0, 0
    k = int(np.nanargmax(share))
    return float(share[k]), int(blocks[k]), k


def heavy(share: float, blocks: int) -> bool:
    """Whether one block's share s of the squared deviations flags heavy tails: s > max(1/2, 5/B)."""
    return bool(np.isfinite(share) and share > max(HEAVY_SHARE, HEAVY_EXCESS / max(blocks, 1)))


def level_name(label: tuple) -> str:
    """A level in words: ``"svag l = 8"``, or the Euler–Maruyama reference with its dt."""
    method, l, dt = label
    return f"{method} l = {l}" if dt is None else f"the Euler–Maruyama reference (dt = {dt:.4g})"


def before_run(problem, lr: float, reference, plan: dict, describe_reference) -> list:
    """The warnings known once the references are planned; a callable that answers no test is an error."""
    mismatch = lr_mismatch(problem, lr)
    warnings = [] if mismatch is None else [mismatch]
    if not callable(reference):
        return warnings
    name = describe_reference(reference)
    missed = {test: kind for test, (kind, _) in plan.items() if kind != "user"}
    if missed and len(missed) == len(plan):
        raise ValueError(f"the reference {name} returned None for every test function ({', '.join(plan)}): it "
                         "gives no reference at all. It is called as exact(name, times) with each test's name "
                         "(a built-in's, such as 'x' or 'norm2', or a module:function test's function name); "
                         "return E g(X_t) for the names it knows, or drop --reference / reference= to use "
                         "'auto' (exact where closed, else extrapolation)")
    if missed:
        fell = ", ".join(f"{test} ({kind})" for test, kind in missed.items())
        warnings.append(f"the reference {name} returned None for {len(missed)} of {len(plan)} test functions, "
                        f"which fell back to another reference: {fell}")
    return warnings


def after_run(levels: dict, times, user_tests) -> list:
    """Heavy tails per test (the worst level and step), and divergence where your own tests were recorded."""
    warnings, worst = [], {}
    for label, level in levels.items():
        for name, (share, blocks, k) in level.tails.items():
            if heavy(share, blocks) and share > worst.get(name, (0.0,))[0]:
                worst[name] = (share, blocks, k, label)
    for name, (share, blocks, k, label) in worst.items():
        flagged = [level_name(lab) for lab, lev in levels.items() if heavy(*lev.tails.get(name, (np.nan, 0, 0))[:2])]
        warnings.append(f"{name}: heavy tails at {', '.join(flagged)}: at {level_name(label)}, t = {times[k]:g}, one "
                        f"of {blocks} blocks of paths holds {share:.0%} of the squared deviations (the rule flags "
                        f"more than {max(HEAVY_SHARE, HEAVY_EXCESS / blocks):.0%}): a few paths carry the sample "
                        "variance, so E g² and perhaps E g may not exist, and this test's standard errors and "
                        "verdict cannot be trusted (a test function with no finite mean under the scheme, such as "
                        "tan x on the arctan SDE under Euler–Maruyama, looks like this)")
    diverged = {label: level for label, level in levels.items() if level.diverged}
    if diverged and user_tests:
        counts = ", ".join(f"{level_name(label)}: {level.diverged} of {level.paths}" for label, level in diverged.items())
        warnings.append(f"paths were dropped as diverged ({counts}): their state x left the finite numbers, or the "
                        f"value of a test function ({', '.join(user_tests)}) overflowed to ±inf (a NaN stops the study, "
                        "naming its function); a test function that is infinite where the state is finite (1/x at 0) "
                        "has no E g")
    return warnings
