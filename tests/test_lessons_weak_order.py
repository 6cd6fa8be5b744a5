"""Lesson 4, weak-order, as a student uses it: it runs headless, its Monte Carlo errors sit within 5 standard
errors of the exact engine's, the three verdicts come out, and the exercise's self-check judges answers."""

import math

import numpy as np
import pytest

pytest.importorskip("marimo")

from sdesim.demos.weak_order import LR, X0, _problem, exact_study, late_reference, order_verdicts  # noqa: E402
from sdesim.lessons import load  # noqa: E402
from sdesim.lessons.exercises.weak_order import check  # noqa: E402


@pytest.fixture(scope="module")
def defs():
    _, defs = load("weak-order").run()
    return defs


def test_lesson_runs_headless_and_its_numbers_match_the_exact_ones(defs):
    rows = defs["lesson_rows"]
    assert rows, "the lesson shows no measured number with an exact value"
    for r in rows:
        assert r.exact is not None and r.stderr > 0
        assert abs(r.z) < 5, f"{r.name}: {r.measured} ± {r.stderr} against exact {r.exact} (z = {r.z:.2f})"
    kinds = {k: s.fits[s.test_functions[0]].kind for k, s in defs["demo"].studies.items()}
    assert kinds == {"exact": "confirmed", "monte_carlo": "inconclusive", "late": "rejected"}


def test_the_exercise_accepts_the_order_and_rejects_wrong_or_malformed_answers(defs):
    study = defs["demo"].studies["exact"]
    right = check("1", study)
    assert right.right and "confirmed" in right.why
    wrong = check(0.5, study)
    assert not wrong.right and "rejected" in wrong.why and "doubles" in wrong.why
    for bad in ("one", "", None, "nan"):
        verdict = check(bad, study)
        assert not verdict.right and "not a number" in verdict.why
    assert check("1").right          # the default study, as the lesson's exercise cell uses it
    too_short = check("1", exact_study(l_values=(1, 2, 4, 8)))     # one triple of points: no truncation estimate
    assert not too_short.right and "cannot settle" in too_short.why


def _ou(t, lr):
    """E X_t and Var X_t per coordinate of the quadratic's SDE, by hand: A = diag(1, 2), x* = (1, 1), Σ = I."""
    a, x_star, x0 = np.array([1.0, 2.0]), np.ones(2), np.array(X0)
    mean = x_star + np.exp(-a * t) * (x0 - x_star)
    return mean, lr * (1 - np.exp(-2 * a * t)) / (2 * a), a, x_star


def test_the_late_reference_is_the_sde_one_step_late_by_hand():
    problem = _problem()
    assert np.allclose(problem.params["hessian"], np.diag([1.0, 2.0])) and np.allclose(problem.params["noise_cov"],
                                                                                          np.eye(2))
    late = late_reference(problem, LR, X0)
    times = np.array([0.2, 0.6, 1.0])
    means, variances = zip(*(_ou(t + LR, LR)[:2] for t in times))
    a, x_star = _ou(0, LR)[2:]
    norm2 = [np.sum(m**2 + v) for m, v in zip(means, variances)]
    loss = [0.5 * np.sum(a * ((m - x_star) ** 2 + v)) for m, v in zip(means, variances)]
    assert np.allclose(late("norm2", times), norm2, rtol=1e-10)
    assert np.allclose(late("loss", times), loss, rtol=1e-10)
    assert np.allclose(late("x", times), np.array(means), rtol=1e-10)


def test_the_exact_study_halves_with_l():
    study = exact_study(l_values=(4, 8, 16, 32))
    errors = [r.error for r in study.rows]
    assert all(math.isclose(b / a, 0.5, rel_tol=0.05) for a, b in zip(errors, errors[1:]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(test="norm4"), "test must be one of norm2, loss, x"),
    (dict(paths=10), "paths must be at least 100"),
])
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        order_verdicts(**kwargs)
