"""Lesson 3's exercise: the temperature of 1-d Langevin dynamics, T = ησ²/2, checked on the 1-d quadratic."""

from __future__ import annotations

from sdesim.lessons.exercises.answers import malformed, number
from sdesim.lessons.view import Verdict
from sdesim.problems import quadratic
from sdesim.simulate import simulate
from sdesim.testing import assert_matches_exact

LR = 0.1
NOISE_SCALE = 2.0
PATHS = 4_000
TIME = 10.0      # 20 relaxation times of the variance (rate 2a, a = 1): stationary to e^{−20}


def check(answer, *, lr: float = LR, noise_scale: float = NOISE_SCALE, paths: int = PATHS, seed: int = 3) -> Verdict:
    """Right if ``answer`` is within 5 standard errors of a·E x² of the SDE's stationary law on ½ a x².

    The 1-d SDE dX = −aX dt + √(ησ²) dW is Langevin dynamics, stationary law ∝ exp(−a x²/(2T)),
    so a·E x² = T.  The simulation (``paths`` paths, sampled exactly, at t = 10) decides through
    `sdesim.testing.assert_matches_exact` on the observable norm2 = x² with a = 1.
    """
    value = number(answer)
    if value is None:
        return malformed(answer, "0.3")
    problem = quadratic(1, hessian=[[1.0]], minimizer=[0.0], noise_cov=[[noise_scale**2]])
    steps = round(TIME / lr)
    run = simulate(problem, "sde", scheme="exact", lr=lr, steps=steps, paths=paths, seed=seed, x0=[0.0],
                   observables=["norm2"])
    mean, stderr = float(run.mean("norm2")[-1]), float(run.stderr("norm2")[-1])
    measured = (f"The SDE's stationary a·E x² (η = {lr:g}, σ = {noise_scale:g}, a = 1) is {mean:.4f} ± {stderr:.4f} "
                f"({paths} paths)")
    try:
        assert_matches_exact(run, "norm2", value, at=steps * lr)
    except AssertionError as failure:
        reason = str(failure).splitlines()[-1].strip()
        hint = ("Langevin dynamics dX = −L'(X) dt + √(2T) dW has the stationary law ∝ exp(−L/T); match √(2T) "
                "with the SDE's noise √(ησ²).")
        if abs(value - lr * noise_scale**2) < 1e-9:
            hint = "Close: you have ησ², twice T. " + hint
        elif abs(value - lr * noise_scale / 2) < 1e-9:
            hint = "The noise enters through its variance σ², not σ. " + hint
        return Verdict(False, f"{measured}; your {value:g} is too far from it: {reason}. {hint}")
    return Verdict(True, f"{measured}, within 5 standard errors of your {value:g}: T = ησ²/2. In one dimension "
                         "constant noise always gives Gibbs. In two, with H diagonal, direction i feels its own "
                         "Tᵢ = ηΣᵢᵢ/2, and there is one temperature for all only when Σ ∝ I (move the anisotropy).")
