"""Lesson 1's exercise: predict the skewness of the sum of N exponential noises (x = −η Σ ξ_i, κ₃(ξ) = 2)."""

from __future__ import annotations

from sdesim.demos import noise_sum_moments, noise_sum_samples, standardized_moments
from sdesim.lessons.exercises.answers import malformed, number
from sdesim.lessons.view import Verdict
from sdesim.testing import assert_within_stderr

STEPS = 100
PATHS = 20_000


def check(answer, *, steps: int = STEPS, lr: float = 0.1, paths: int = PATHS, seed: int = 1) -> Verdict:
    """Right if ``answer`` is within 5 standard errors of the skewness SGD shows after ``steps`` steps.

    The simulation (`sdesim.demos.noise_sum_samples`, ``paths`` paths of exponential noise on a flat loss)
    decides, through `sdesim.testing.assert_within_stderr`; the exact value is −κ₃/√N = −2/√N.
    """
    value = number(answer)
    if value is None:
        return malformed(answer, "-0.5")
    x = noise_sum_samples(lr=lr, steps=steps, noise="exponential", paths=paths, seed=seed, every=steps)
    (skew, stderr), _ = standardized_moments(x[:, -1])
    exact = noise_sum_moments("exponential", steps, lr)[2]
    measured = f"SGD's skewness after N = {steps} steps is {skew:.3f} ± {stderr:.3f} ({paths} paths)"
    try:
        assert_within_stderr(skew, stderr, value, name=f"skewness after N={steps}")
    except AssertionError as failure:
        reason = str(failure).splitlines()[-1].strip()
        hint = "Cumulants add: κ₃ of the sum is N·κ₃(ξ)·(−η)³ and its variance N·η²; skewness = κ₃/Var^{3/2}."
        if value == 0:
            hint = "The sum is not Gaussian yet: its skewness only shrinks like 1/√N, it is not 0. " + hint
        elif abs(value + 2.0 / steps) < 1e-9 or abs(value - 2.0 / steps) < 1e-9:
            hint = "1/N is the excess kurtosis's rate; the skewness shrinks more slowly, like 1/√N. " + hint
        elif value > 0 > skew:
            hint = ("Mind the sign: x moves by −η ξ, so the noise's right skew (Exp(1) − 1 has κ₃ = +2) becomes "
                    "a left skew of x. " + hint)
        return Verdict(False, f"{measured}; your {value:g} is too far from it: {reason}. {hint}")
    return Verdict(True, f"{measured}, within 5 standard errors of your {value:g}; exactly it is "
                         f"−κ₃/√N = −2/√{steps} = {exact:.3f}: the skew of the sum fades like 1/√N.")
