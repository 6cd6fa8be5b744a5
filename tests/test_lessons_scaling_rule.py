"""Lesson 5, scaling-rule, as a student uses it: it runs headless, eq. (11)'s norm balance holds in every run
within 5 standard errors, κ* and C_κ follow Theorems 5.5/5.6 by hand, and the exercise's self-check judges answers."""

import math

import numpy as np
import pytest

pytest.importorskip("marimo")

from sdesim.demos.scaling_rule import ScalingRun, linear_scaling_rule, measure_scaling_rule, norm_balance  # noqa: E402
from sdesim.lessons import load  # noqa: E402
from sdesim.lessons.exercises.scaling_rule import check  # noqa: E402
from sdesim.validation.equilibrium import Equilibrium  # noqa: E402


@pytest.fixture(scope="module")
def defs():
    _, defs = load("scaling-rule").run()
    return defs


def test_lesson_runs_headless_and_the_norm_balance_holds(defs):
    rows = defs["lesson_rows"]
    assert len(rows) == 1 + len(defs["measured"].scaled)
    for r in rows:
        assert r.exact == 0.0 and r.stderr > 0
        assert abs(r.z) < 5, f"{r.name}: {r.measured} ± {r.stderr} (z = {r.z:.2f})"
    demo = defs["demo"]
    assert demo.kappa_star.stderr > 0 and all(r.exact is None for r in demo.rows if r not in rows)
    # Theorem 5.6 is sufficient: every κ beyond κ* breaks the rule at C = √2
    beyond = [p for p in demo.points if p["kappa"] > demo.kappa_star.value + 5 * demo.kappa_star.stderr]
    assert beyond and all(p["C"] > math.sqrt(2) + 5 * p["C_se"] for p in beyond)


def test_the_exercise_accepts_kappa_star_and_rejects_wrong_or_malformed_answers(defs):
    base = defs["measured"].baseline
    kappa_star = 2 * (1 + base.N / base.G)
    right = check(f"{kappa_star:.3f}", base.N, base.G)
    assert right.right and "Theorem 5.6" in right.why
    forgot_one = check(2 * base.N / base.G, base.N, base.G)
    assert not forgot_one.right and "C²·N/G" in forgot_one.why
    assert not check(1 + base.N / base.G, base.N, base.G).right
    for bad in ("kappa", "", "1 2"):
        verdict = check(bad, base.N, base.G)
        assert not verdict.right and "not a number" in verdict.why


def _eq(R, G, N, scale=1e-4):
    return Equilibrium(R, G, N, np.diag([scale * R, scale * G, scale * N]) ** 2)


def test_the_view_follows_theorems_5_5_and_5_6_by_hand():
    base = _eq(1.0, 0.1, 0.9)                               # N/G = 9: κ* = 2 · 10 = 20 at C = √2
    scaled = {4: _eq(1.1, 0.11, 0.2), 32: _eq(3.0, 0.2, 0.02)}
    run = ScalingRun(lr=0.1, batch_size=2, weight_decay=0.1, paths=1000, baseline=base, scaled=scaled)
    demo = linear_scaling_rule(run, kappa=32)
    assert math.isclose(demo.kappa_star.value, 20.0, rel_tol=1e-12)
    by_kappa = {p["kappa"]: p for p in demo.points}
    # C_κ = max over R/R', N/(κN'), G/G' of max(r, 1/r), eq. (13)
    assert math.isclose(by_kappa[4]["C"], max(1.1, 0.9 / 0.8, 0.8 / 0.9, 1.1), rel_tol=1e-12)
    assert math.isclose(by_kappa[32]["C"], 3.0, rel_tol=1e-12)
    # eq. (14) at C = √2: N'/G' < (1 − 1/κ) − 1/κ
    assert by_kappa[4]["certified"] is (0.2 / 0.11 < 1 - 2 / 4)
    assert by_kappa[32]["certified"] is (0.02 / 0.2 < 1 - 2 / 32)
    value, se = norm_balance(base, 0.1, 0.1)
    assert math.isclose(value, (2 - 0.01) * 0.1 * 1.0 - 0.1 * (0.1 + 0.9), rel_tol=1e-12)
    assert math.isclose(se, math.sqrt((0.199 * 1e-4) ** 2 + (0.1 * 1e-5) ** 2 + (0.1 * 0.9e-4) ** 2), rel_tol=1e-9)


@pytest.mark.parametrize("call, message", [
    (lambda: measure_scaling_rule(kappas=(1, 4)), "kappas must be whole numbers >= 2"),
    (lambda: measure_scaling_rule(paths=10), "paths must be at least 100"),
    (lambda: measure_scaling_rule(lr=-0.1), "lr"),
    (lambda: linear_scaling_rule(ScalingRun(0.1, 2, 0.1, 100, _eq(1, 1, 1), {4: _eq(1, 1, 1)}), kappa=8),
     r"kappa must be one of the measured \[4\]"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
