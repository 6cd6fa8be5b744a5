"""Each problem's pieces against each other and against independent formulas."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from seeds import seed
from sdesim import rng
from sdesim.problems import (double_well, from_record, linear_regression, make_problem, quadratic,
                             scale_invariant)
from sdesim.problems import sampling
from sdesim.problems.noise import FOURTH_MOMENT, NOISE_LAWS, THIRD_MOMENT, standardized_draw
from sdesim._jit import jit
from sdesim.testing import assert_within_stderr, strategies

Z = 5.0


def covariance_check(samples, mean, cov, what):
    """Sample mean and covariance within 5 standard errors (the covariance's from the 4th moments)."""
    n = samples.shape[0]
    centred = samples - mean
    assert_within_stderr(samples.mean(0), samples.std(0, ddof=1) / np.sqrt(n), mean, sigmas=Z,
                         name=f"E ∇L_γ ({what})")
    outer = np.einsum("ni,nj->nij", centred, centred)
    assert_within_stderr(outer.mean(0), outer.std(0, ddof=1) / np.sqrt(n), cov, sigmas=Z, name=f"Σ ({what})")


PROBLEMS = {
    "quadratic-exponential": (lambda: quadratic(3, noise="exponential", batch_size=2,
                                                noise_cov=[[1, .2, 0], [.2, 1, .1], [0, .1, .5]]), [0.3, -1.0, 2.0]),
    "linear-regression-wr": (lambda: linear_regression(dim=3, n=20, batch_size=4), [0.5, 0.1, -0.4]),
    "linear-regression-wor": (lambda: linear_regression(dim=3, n=20, batch_size=4,
                                                        sampling="without_replacement"), [0.5, 0.1, -0.4]),
    "double-well-2d": (lambda: double_well(2, noise="rademacher", noise_scale=0.7), [0.4, -0.3]),
    "scale-invariant": (lambda: scale_invariant(dim=3, n=16, batch_size=3), [0.6, -0.8, 0.5]),
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_stochastic_gradient_has_the_mean_gradient_and_sigma(name):
    make, x = PROBLEMS[name]
    problem, x = make(), np.array(x)
    samples = problem.sample_grads(x, 40_000, seed=seed(4))
    covariance_check(samples, problem.mean_grad(x), problem.sigma(x), name)


def test_linear_regression_sigma_matches_per_example_gradients():
    a = np.random.default_rng(0).standard_normal((7, 2))
    b = np.random.default_rng(1).standard_normal(7)
    x = np.array([0.3, -0.2])
    g = a * (a @ x - b)[:, None]
    c1 = np.cov(g.T, bias=True)
    for scheme, factor in (("with_replacement", 1 / 3), ("without_replacement", (7 - 3) / (3 * 6))):
        problem = linear_regression(a, b, batch_size=3, sampling=scheme)
        np.testing.assert_allclose(problem.sigma(x), factor * c1, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(problem.mean_grad(x), g.mean(0), rtol=1e-12)
        assert problem.loss(x) == pytest.approx(0.5 * np.mean((a @ x - b) ** 2), rel=1e-12)


def test_reshuffle_visits_every_example_once_per_epoch():
    n, batch = 10, 3

    @jit
    def epochs(state, pstate, steps, out):
        sampling.init_sampler(n, pstate)
        for s in range(steps):
            sampling.draw_batch(2, n, batch, state, pstate)
            out[s] = pstate[1 + n:1 + n + batch]

    state = np.empty(4, dtype=np.uint64)
    rng.seed_path(rng.stream_key(3), 0, state)
    pstate = np.zeros(sampling.state_size(n, batch), dtype=np.int64)
    out = np.zeros((9, batch), dtype=np.int64)
    epochs(state, pstate, 9, out)
    for e in range(3):  # 3 batches of 3 per epoch; the 10th example is dropped
        seen = out[3 * e:3 * e + 3].ravel()
        assert len(set(seen)) == 9
    assert not np.array_equal(out[0:3], out[3:6])


@pytest.mark.parametrize("law", NOISE_LAWS)
def test_noise_laws_are_standardized_with_the_stated_moments(law):
    @jit
    def draws(code, key, n, out):
        state = np.empty(4, dtype=np.uint64)
        rng.seed_path(key, 0, state)
        for i in range(n):
            out[i] = standardized_draw(code, state)

    n = 400_000
    out = np.empty(n)
    draws(NOISE_LAWS.index(law), rng.stream_key(seed(9)), n, out)
    for power, exact in ((1, 0.0), (2, 1.0), (3, THIRD_MOMENT[law]), (4, FOURTH_MOMENT[law])):
        values = out**power
        assert_within_stderr(values.mean(), values.std() / np.sqrt(n), exact, sigmas=Z, name=f"E ε^{power} ({law})")


def test_scale_invariance_and_orthogonality():
    problem = scale_invariant(dim=4, n=12, batch_size=3)
    x = np.array([0.3, -1.2, 0.5, 0.9])
    for c in (0.1, 3.0, 70.0):
        assert problem.loss(c * x) == pytest.approx(problem.loss(x), rel=1e-12)
        np.testing.assert_allclose(problem.mean_grad(c * x), problem.mean_grad(x) / c, rtol=1e-10)
    assert abs(problem.mean_grad(x) @ x) < 1e-12
    assert np.max(np.abs(problem.sample_grads(x, 50) @ x)) < 1e-12
    assert np.max(np.abs(problem.sigma(x) @ x)) < 1e-12
    with pytest.raises(ValueError, match="x0 = 0"):
        problem.start_point(np.zeros(4))


def test_ou_closed_form_matches_a_matrix_exponential():
    """Mean and covariance against Van Loan's block-matrix exponential, an independent route."""
    problem = quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                        noise_cov=[[1.0, 0.3], [0.3, 0.5]], weight_decay=0.2)
    ou, eta, t, x0 = problem.exact_sde, 0.3, 1.7, np.array([0.5, 2.0])
    m = ou.drift_matrix
    block = np.zeros((4, 4))
    block[:2, :2], block[:2, 2:], block[2:, 2:] = m, eta * ou.noise_cov, -m.T  # [[−F, Q], [0, Fᵀ]], F = −M
    e = scipy.linalg.expm(block * t)
    cov = e[2:, 2:].T @ e[:2, 2:]
    np.testing.assert_allclose(ou.cov(t, eta), cov, rtol=1e-10)
    mean = scipy.linalg.expm(-m * t) @ x0 + np.linalg.solve(m, (np.eye(2) - scipy.linalg.expm(-m * t)) @ ou.drift_offset)
    np.testing.assert_allclose(ou.mean(t, x0), mean, rtol=1e-10)


@given(case=st.one_of(strategies.stable_linear_sdes(dims=(1, 4), max_batch_size=5),
                      strategies.least_squares_problems(samplings=sampling.SAMPLINGS), strategies.double_wells()),
       seed=st.integers(0, 99))
def test_problem_records_rebuild_the_same_problem(case, seed):
    problem, x = case.problem, case.x0
    again = from_record({"name": problem.name, "params": problem.params})
    np.testing.assert_array_equal(again.sigma(x), problem.sigma(x))
    np.testing.assert_array_equal(again.sample_grads(x, 5, seed=seed), problem.sample_grads(x, 5, seed=seed))


@pytest.mark.parametrize("name", ["quadratic", "linear_regression", "double_well", "scale_invariant"])
def test_every_built_in_problem_has_weight_decay_and_rebuilds(name):
    problem = make_problem(name, weight_decay=0.05)
    assert problem.weight_decay == 0.05
    again = from_record({"name": problem.name, "params": problem.params})
    x = problem.start_point() + 0.1
    np.testing.assert_array_equal(again.mean_grad(x), problem.mean_grad(x))
