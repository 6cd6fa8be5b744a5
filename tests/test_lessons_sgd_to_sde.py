"""Lesson 2 (sgd-to-sde): it runs headless with its numbers on their exact values, its exercise's
self-check tells SGD's mean from the SDE's, and the exact third moments with a noise law
(`svag_exact_moments`, `svag_skew_limit`) agree with an independent moment recursion of SVAG's steps."""

import math

import numpy as np
import pytest

from seeds import seed
from sdesim import demos
from sdesim.problems.noise import THIRD_MOMENT

pytest.importorskip("marimo")


def test_lesson_runs_headless_with_its_numbers_on_their_exact_values():
    from sdesim.lessons import load

    _, defs = load("sgd-to-sde").run()
    rows = defs["lesson_rows"]
    assert len(rows) == 9                           # mean, variance, κ₃ of SGD, SVAG l=8 and the SDE
    for r in rows:
        assert abs(r.z) < 5, f"{r.name}: measured {r.measured} ± {r.stderr}, exact {r.exact} (z = {r.z:.2f})"
    # the page must not say SGD has the SDE's mean: at η = 0.5 they are 0.75 and 1 − e⁻¹
    assert defs["demo"].row("SGD: mean").exact == pytest.approx(0.75)
    assert defs["demo"].row("SDE: mean").exact == pytest.approx(1 - math.exp(-1))
    assert defs["paths"] == 20_000 and not defs["verdict"].right


def test_self_check_accepts_sgds_mean_and_rejects_the_sdes():
    from sdesim.lessons.exercises.sgd_to_sde import check

    right = check("0.6836", seed=seed(21))
    assert right.right and "1 − (1 − η)^4 = 0.6836" in right.why
    sde = check("0.632", seed=seed(21))
    assert not sde.right and "That is the SDE's mean" in sde.why and "standard errors" in sde.why
    wrong = check("0.9", seed=seed(21))
    assert not wrong.right and "E x_{k+1} − 1 = (1 − η)(E x_k − 1)" in wrong.why
    for malformed in ("about two thirds", "1-0.75**4", None):
        verdict = check(malformed)
        assert not verdict.right and "type a single number" in verdict.why


def svag_moments_by_recursion(lr, l, steps, noise):
    """E y, E y², E y³ of y = x − x* step by step: y' = ρy − hN, N = c₁ξ₁ + c₂ξ₂ (eq. (5)), then central κ₃."""
    h, rho = lr / l, 1 - lr / l
    c1, c2 = (1 + math.sqrt(2 * l - 1)) / 2, (1 - math.sqrt(2 * l - 1)) / 2
    n2, n3 = c1**2 + c2**2, (c1**3 + c2**3) * THIRD_MOMENT[noise]
    m1, m2, m3 = -1.0, 1.0, -1.0                    # x₀ = 0, x* = 1
    for _ in range(l * steps):
        m1, m2, m3 = rho * m1, rho**2 * m2 + h**2 * n2, rho**3 * m3 + 3 * rho * h**2 * m1 * n2 - h**3 * n3
    var = m2 - m1**2
    return 1 + m1, var, m3 - 3 * m1 * var - m1**3


@pytest.mark.parametrize("noise", ["exponential", "rademacher"])
@pytest.mark.parametrize("lr,l,steps", [(0.5, 1, 2), (0.25, 3, 4), (0.1, 8, 10)])
def test_exact_moments_with_a_noise_law_against_a_recursion(noise, lr, l, steps):
    closed = demos.svag_exact_moments(lr, l, steps, third=THIRD_MOMENT[noise])
    assert np.allclose(closed, svag_moments_by_recursion(lr, l, steps, noise), rtol=1e-12, atol=1e-15)


def test_the_skew_fades_like_one_over_l():
    limit = demos.svag_skew_limit(0.5, 1.0)
    assert limit == pytest.approx(-0.25 * 2 * (1 - math.exp(-3)) / 2)
    scaled = [l * svag_moments_by_recursion(0.5, l, 2, "exponential")[2] for l in (64, 128, 256)]
    gaps = np.abs(np.array(scaled) - limit)
    assert gaps[-1] < 2e-3 and gaps[2] < gaps[1] < gaps[0]
    assert demos.svag_skew_limit(0.5, 1.0, noise="rademacher") == 0.0
    demo = demos.svag_skew(measured=[(1, -0.3, 0.02)])
    assert demo.row("limit of l × third central moment, exact").measured == limit
    assert demo.row("SGD: third central moment, exact").measured == pytest.approx(-0.28125)


def test_histograms_with_symmetric_noise_has_no_skew():
    demo = demos.histograms(l_values=(1, 2), noise="rademacher", paths=4_000, seed=seed(22))
    for r in demo.rows:
        assert abs(r.z) < 5, r
    assert demo.row("SGD: third central moment").exact == 0.0
    assert "rademacher noise" in demo.figure.axes[0].get_title()
