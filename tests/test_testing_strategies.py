"""Strategies users can steer: a minimum learning rate without discards, noise scale, fixed dimension,
l and step counts, and a Case whose repr pastes back into a test."""

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from sdesim.testing import strategies
from sdesim.testing.strategies import Case

STEERED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@STEERED
@given(case=strategies.stable_linear_sdes(dim=2, min_lr=0.3, max_lr=0.5, noise_scales=(2.0, 3.0)))
def test_stable_linear_sdes_meet_every_bound_without_discards(case):
    problem = case.problem
    assert problem.dim == 2 and 0.3 <= case.lr <= 0.5
    assert case.lr * np.linalg.eigvalsh(problem.exact_sde.drift_matrix).max() <= 1 + 1e-12
    assert np.linalg.eigvalsh(problem.params["noise_cov"]).min() >= 4 * 0.1 - 1e-12


@STEERED
@given(case=strategies.least_squares_problems(dim=3, min_lr=0.4))
def test_least_squares_problems_with_a_minimum_learning_rate(case):
    a = case.problem.params["features"]
    n, d = a.shape
    assert d == 3 and 0.4 <= case.lr <= 0.5 and np.linalg.cond(a.T @ a) <= 100 + 1e-6
    assert case.lr * np.linalg.eigvalsh(a.T @ a / n + case.problem.weight_decay * np.eye(d)).max() <= 1 + 1e-12


@STEERED
@given(case=strategies.double_wells(dim=2, min_lr=0.05, min_noise_scale=0.5, max_noise_scale=0.8),
       l=strategies.svag_l(2, 8), steps=strategies.step_counts(3, 7))
def test_double_wells_l_and_step_counts(case, l, steps):
    assert case.problem.dim == 2 and case.lr >= 0.05 and case.lr <= 0.025 / case.problem.params["barrier"] + 1e-12
    assert 0.5 <= case.problem.params["noise_scale"] <= 0.8 and 2 <= l <= 8 and 3 <= steps <= 7


def test_a_minimum_learning_rate_discards_nothing():
    """Before: η was drawn from [0.01, …] and a test wanting η ≥ 0.3 discarded about half its problems."""
    kept = []

    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(case=strategies.stable_linear_sdes(min_lr=0.3))
    def run(case):
        kept.append(case.lr >= 0.3)

    run()
    assert len(kept) == 40 and all(kept)


def test_the_repr_of_a_case_pastes_back():
    case = find(strategies.least_squares_problems(dim=2), lambda c: c.lr < 0.4)
    text = repr(case)
    assert text.startswith("Case(problem={'name': 'linear_regression', 'params': {") and len(text) < 600
    again = eval(text, {"Case": Case})
    assert repr(again) == text
    np.testing.assert_array_equal(again.problem.mean_grad(again.x0), case.problem.mean_grad(case.x0))
    assert find(strategies.svag_l(), lambda l: True) == 1 and find(strategies.step_counts(), lambda n: True) == 1
    with pytest.raises(TypeError, match="problem must be an sdesim Problem or its record"):
        Case(problem="quadratic", x0=[0.0], lr=0.1)


def test_steering_arguments_are_checked():
    for call, message in (
            (lambda: strategies.stable_linear_sdes(min_lr=0.6, max_lr=0.5), "need min_lr <= max_lr"),
            (lambda: strategies.stable_linear_sdes(min_lr=1.9, max_lr=2.0), r"min_lr = 1.9 exceeds 1.667"),
            (lambda: strategies.stable_linear_sdes(dim=0), r"dim must be \(low, high\) with 1 <= low"),
            (lambda: strategies.stable_linear_sdes(noise_scales=(2, 1)), "noise_scales must be"),
            (lambda: strategies.least_squares_problems(dim=2, datasets=st.just((np.eye(2), np.ones(2)))),
             "pass dim or datasets"),
            (lambda: strategies.double_wells(dim=3), r"dims of the double well lie in \(1, 2\)"),
            (lambda: strategies.svag_l(0, 4), "l .* must be"),
            (lambda: strategies.step_counts(5, 2), "step counts .* must be")):
        with pytest.raises(ValueError, match=message):
            call()
