"""Lesson 2's exercise: predict SGD's mean E x at t = 1 on ½(x − 1)² from x₀ = 0 — not the SDE's."""

from __future__ import annotations

from sdesim.demos import sde_exact_moments, svag_exact_moments
from sdesim.lessons.exercises.answers import malformed, number
from sdesim.lessons.view import Verdict
from sdesim.problems import quadratic
from sdesim.simulate import simulate
from sdesim.testing import assert_matches_exact

LR = 0.25
TIME = 1.0
PATHS = 20_000


def check(answer, *, lr: float = LR, paths: int = PATHS, seed: int = 2) -> Verdict:
    """Right if ``answer`` is within 5 standard errors of SGD's simulated E x at t = 1 (step ``lr``).

    The simulation (``paths`` paths of SGD on the 1-d quadratic) decides, through
    `sdesim.testing.assert_matches_exact`; exactly E x_n = 1 − (1 − η)ⁿ with n = 1/η, while the
    SDE's is 1 − e^{−1} = 0.632 — the two means differ by O(η).
    """
    value = number(answer)
    if value is None:
        return malformed(answer, "0.5")
    steps = round(TIME / lr)
    run = simulate(quadratic(1), "sgd", lr=lr, steps=steps, paths=paths, seed=seed, x0=[0.0], observables=["x"])
    mean, stderr = float(run.mean("x")[-1, 0]), float(run.stderr("x")[-1, 0])
    measured = f"SGD's E x at t = {TIME:g} (η = {lr:g}, {steps} steps) is {mean:.4f} ± {stderr:.4f} ({paths} paths)"
    exact = svag_exact_moments(lr, 1, steps)[0]        # SGD is SVAG with l = 1
    sde = sde_exact_moments(lr, TIME)[0]
    try:
        assert_matches_exact(run, "x", [value], at=TIME)
    except AssertionError as failure:
        reason = str(failure).splitlines()[-1].strip()
        hint = ("Take the mean of one step: E x_{k+1} − 1 = (1 − η)(E x_k − 1), since the noise has mean 0; "
                f"repeat it {steps} times from x₀ = 0.")
        if abs(value - sde) < 5e-3:
            hint = ("That is the SDE's mean 1 − e^{−t}: over a step of length η the SDE contracts x − 1 by e^{−η}, "
                    "SGD by 1 − η, so their means differ by O(η). " + hint)
        return Verdict(False, f"{measured}; your {value:g} is too far from it: {reason}. {hint}")
    return Verdict(True, f"{measured}, within 5 standard errors of your {value:g}; exactly it is "
                         f"1 − (1 − η)^{steps} = {exact:.4f}, not the SDE's 1 − e^{{−1}} = {sde:.4f}: "
                         "SGD matches the SDE only up to O(η) (Li et al. 2019), SVAG as l grows (Theorem 4.3).")
