"""Lesson 1 (sgd-process): it runs headless with its numbers on their exact values, its exercise's
self-check says right and wrong, and `sdesim.demos.noise_sum_moments` agrees with independent
computations of the sum's law (enumeration of the Rademacher sum, the Gamma law of exponential sums)."""

import math

import numpy as np
import pytest
from scipy import stats

from seeds import seed
from sdesim import demos

pytest.importorskip("marimo")


def test_lesson_runs_headless_with_its_numbers_on_their_exact_values():
    from sdesim.lessons import load

    _, defs = load("sgd-process").run()
    rows = defs["lesson_rows"]
    assert len(rows) == 4
    for r in rows:
        assert abs(r.z) < 5, f"{r.name}: measured {r.measured} ± {r.stderr}, exact {r.exact} (z = {r.z:.2f})"
    assert defs["paths"] == 20_000
    assert not defs["verdict"].right and "No answer yet" in defs["verdict"].why   # the empty answer box


def test_self_check_accepts_the_right_skewness_and_explains_wrong_ones():
    from sdesim.lessons.exercises.sgd_process import check

    right = check("-0.2", paths=20_000, seed=seed(11))
    assert right.right and "−2/√100" in right.why and "20000 paths" in right.why
    for wrong, reason in (("0", "not Gaussian yet"), ("0.2", "Mind the sign"), ("-0.02", "1/√N")):
        verdict = check(wrong, paths=20_000, seed=seed(11))
        assert not verdict.right and reason in verdict.why and "standard errors" in verdict.why
    for malformed in ("minus a fifth", "0.2 0.3", float("nan"), None, ""):
        verdict = check(malformed)
        assert not verdict.right and "type a single number" in verdict.why


def test_noise_sum_moments_against_enumeration_and_the_gamma_law():
    # Rademacher: Σ ±1 over N steps is 2·Binomial(N, ½) − N; enumerate its law exactly
    for n in (1, 3, 10):
        k = np.arange(n + 1)
        values = -0.3 * (2 * k - n)                           # x = −η Σ ξ, η = 0.3
        weights = np.array([math.comb(n, j) for j in k]) / 2.0**n
        mean = weights @ values
        c = values - mean
        var = weights @ c**2
        expected = (mean, var, (weights @ c**3) / var**1.5, (weights @ c**4) / var**2 - 3)
        assert np.allclose(demos.noise_sum_moments("rademacher", n, 0.3), expected, atol=1e-12)
    # exponential: Σ (Exp(1) − 1) = Gamma(N, 1) − N, skewness 2/√N, excess kurtosis 6/N; x = −η Σ flips the skew
    for n in (1, 4, 25):
        m, v, s, k = stats.gamma.stats(n, moments="mvsk")
        assert np.allclose(demos.noise_sum_moments("exponential", n, 0.5, noise_var=1.0),
                           (0.0, 0.25 * v, -s, k), atol=1e-12)
    assert demos.noise_sum_moments("gaussian", 7, 0.1, noise_var=2.0) == pytest.approx((0.0, 7 * 0.01 * 2, 0.0, 0.0))


def test_noise_sum_demo_shows_the_shape_fading():
    demo = demos.noise_sum(steps=4, noise="rademacher", paths=4_000, seed=seed(12))
    kurt = demo.row("excess kurtosis of x after N=4")
    assert kurt.exact == -0.5 and abs(kurt.z) < 5 and kurt.measured < -10 * kurt.stderr   # visibly not Gaussian
    assert len(demo.figure.axes) == 3


def test_standardized_moments_of_a_known_sample():
    x = np.array([0.0, 0.0, 0.0, 1.0])                       # Bernoulli(¼): skewness 2/√3, excess kurtosis −2/3
    (skew, _), (kurt, _) = demos.standardized_moments(x)
    assert skew == pytest.approx(2 / math.sqrt(3)) and kurt == pytest.approx(-2 / 3)
