"""Lesson 6, adaptive, as a student uses it: it runs headless, Adam's and its SDE's one-step moments sit within
5 standard errors of their exact values, the rules' hyperparameters are those by hand, and the exercise's
self-check judges answers."""

import math

import pytest

pytest.importorskip("marimo")

from sdesim.demos.adaptive import BASE, adam_scaling_rules, rule_hyperparameters  # noqa: E402
from sdesim.lessons import load  # noqa: E402
from sdesim.lessons.exercises.adaptive import check  # noqa: E402


@pytest.fixture(scope="module")
def defs():
    _, defs = load("adaptive").run()
    return defs


def test_lesson_runs_headless_and_its_numbers_match_the_exact_ones(defs):
    rows = defs["lesson_rows"]
    assert len(rows) == 8
    for r in rows:
        assert r.exact is not None and r.stderr > 0
        assert abs(r.z) < 5, f"{r.name}: {r.measured} ± {r.stderr} against exact {r.exact} (z = {r.z:.2f})"
    ratios = {r.name: r for r in defs["rules"].rows if "ratio" in r.name}
    square_root, linear = ratios["E L ratio square-root / baseline"], ratios["E L ratio linear / baseline"]
    assert abs(square_root.measured - 1) < 0.1 + 5 * square_root.stderr     # claim 7's tolerance
    assert linear.measured - 1 > 0.1 + 5 * linear.stderr


def test_the_exercise_accepts_the_square_root_rule_and_rejects_wrong_or_malformed_answers():
    right = check("0.2, 0.96")
    assert right.right and "square-root rule" in right.why
    linear = check("0.4, 0.99")
    assert not linear.right and "σ₀" in linear.why and "× 2" in linear.why
    only_lr = check("0.2; 0.99")
    assert not only_lr.right and "c₂" in only_lr.why and "σ₀" not in only_lr.why.split(".")[0]
    for bad in ("0.2", "fast, please", ""):
        verdict = check(bad)
        assert not verdict.right and "two numbers" in verdict.why
    assert "β₂ in [0, 1)" in check("0.2, 1.5").why


@pytest.mark.parametrize("kappa", [2, 8])
def test_rule_hyperparameters_by_hand(kappa):
    rules = rule_hyperparameters(kappa)
    sq, lin = rules["square-root"], rules["linear"]
    assert math.isclose(sq["lr"], BASE["lr"] * math.sqrt(kappa), rel_tol=1e-12)
    assert math.isclose(1 - sq["beta1"], kappa * (1 - BASE["beta1"]), rel_tol=1e-9)
    assert math.isclose(1 - sq["beta2"], kappa * (1 - BASE["beta2"]), rel_tol=1e-9)
    assert math.isclose(sq["eps"], BASE["eps"] / math.sqrt(kappa), rel_tol=1e-12)
    assert sq["batch_size"] == lin["batch_size"] == kappa * BASE["batch_size"]
    assert sq["steps"] == lin["steps"] == BASE["steps"] // kappa
    assert math.isclose(lin["lr"], BASE["lr"] * kappa, rel_tol=1e-12)
    assert (lin["beta1"], lin["beta2"], lin["eps"]) == (BASE["beta1"], BASE["beta2"], BASE["eps"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(kappa=16), r"kappa must be one of \(2, 4, 8\)"),
    (dict(paths=5), "paths must be at least 100"),
])
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adam_scaling_rules(**kwargs)
