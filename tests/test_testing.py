"""sdesim.testing: each assertion passes on a true case and fails, saying why, on a false one;
the strategies draw only valid problems, and problems of one kind share one compiled kernel."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from seeds import seed

from sdesim.estimators.weak_error import weak_error_study
from sdesim.kernels.build import kernel_module
from sdesim.methods import GAUSSIAN, STOCHASTIC
from sdesim.problems import double_well, from_record, linear_regression, quadratic
from sdesim.simulate import simulate
from sdesim.testing import (assert_agree, assert_identical_results, assert_matches_exact, assert_one_step_moments,
                            assert_weak_order, assert_within_stderr, strategies)

X0 = np.array([0.5, 2.0])


def anisotropic_quadratic(noise="gaussian"):
    """The 2-d quadratic of test_engine.py (its kernels are compiled once for both files)."""
    return quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                     noise_cov=[[1.0, 0.3], [0.3, 0.5]], noise=noise)


@pytest.fixture(scope="module")
def problem():
    return anisotropic_quadratic()


@pytest.fixture(scope="module")
def exact_sde_run(problem):
    """The SDE by its exact transition: its means equal the closed form up to Monte Carlo error."""
    return simulate(problem, "sde", scheme="exact", lr=0.2, steps=10, paths=20_000, seed=seed(3), x0=X0,
                    checkpoints=[5, 10])


@pytest.fixture(scope="module")
def sgd_run(problem):
    return simulate(problem, "sgd", lr=0.2, steps=10, paths=20_000, seed=seed(4), x0=X0, checkpoints=[5, 10])


# --- assert_within_stderr -------------------------------------------------------------------------

def test_within_stderr_passes_inside_and_fails_outside_k_standard_errors():
    assert_within_stderr(1.0, 0.1, 1.45)
    assert_within_stderr([1.0, 2.0], [0.1, 0.2], [0.55, 2.9])
    assert_within_stderr(1.0, 0.1, 1.6, expected_stderr=0.1)           # combined √2·0.1: 4.2 standard errors
    with pytest.raises(AssertionError) as failure:
        assert_within_stderr(1.0, 0.1, 1.6, name="E x")
    message = str(failure.value)
    assert "E x does not match: 1 of 1 entries differ by more than 5 standard errors" in message
    assert "measured 1 ± 0.1 vs expected 1.6; difference -0.6 = 6.0 standard errors" in message
    with pytest.raises(AssertionError, match=r"E x\[1\]: measured 2 ± 0.2 vs expected 3.2"):
        assert_within_stderr([1.0, 2.0], [0.1, 0.2], [1.0, 3.2], name="E x")
    with pytest.raises(AssertionError, match="4.0 standard errors"):
        assert_within_stderr(1.0, 0.1, 1.4, sigmas=3)


def test_within_stderr_fails_on_exact_mismatches_and_numbers_that_are_not_finite():
    assert_within_stderr(1.0, 0.0, 1.0 + 1e-14)                          # rounding: within atol
    with pytest.raises(AssertionError, match="exact mismatch with 0 standard error"):
        assert_within_stderr(1.0, 0.0, 1.0 + 1e-9)
    with pytest.raises(AssertionError, match="not a finite number"):
        assert_within_stderr([1.0, np.nan], [0.1, 0.1], [1.0, 1.0])
    with pytest.raises(AssertionError, match="not a finite number"):
        assert_within_stderr(1.0, np.nan, 1.0)


# --- assert_matches_exact --------------------------------------------------------------------------

def test_matches_exact_passes_on_the_closed_form(problem, exact_sde_run):
    ou = problem.exact_sde
    assert_matches_exact(exact_sde_run, "x", ou.observables(2.0, X0, 0.2), at=2.0)       # a dict, one time
    every = [ou.observables(t, X0, 0.2)["norm2"] for t in exact_sde_run.times]
    assert_matches_exact(exact_sde_run, "norm2", every)                                 # every checkpoint
    assert_matches_exact(exact_sde_run, "loss", [ou.observables(t, X0, 0.2)["loss"] for t in (1.0, 2.0)],
                         at=[1.0, 2.0])                                                 # some checkpoints
    assert_matches_exact(exact_sde_run, "noise_trace", ou.observables(0.0, X0, 0.2)["noise_trace"])  # one number


def test_matches_exact_catches_the_bias_of_sgd_and_says_where(problem, sgd_run):
    """SGD at η = 0.2 is not the SDE: its E x at t = 2 is off by far more than its Monte Carlo error."""
    with pytest.raises(AssertionError) as failure:
        assert_matches_exact(sgd_run, "x", problem.exact_sde.observables(2.0, X0, 0.2), at=2.0)
    message = str(failure.value)
    assert message.startswith("sgd on quadratic does not match the exact 'x'")
    assert "t = 2, x[" in message and "simulated" in message and "vs exact" in message
    assert "standard errors" in message and "(combined" not in message   # exact values have no error


def test_matches_exact_fails_when_paths_blew_up():
    # seed fixed (also under SDESIM_TEST_SEED): the run must blow up; nothing is compared statistically
    result = simulate(double_well(1, barrier=1.0), "sgd", lr=0.6, steps=30, paths=2000, seed=0, x0=[1.5])
    with pytest.raises(AssertionError, match=r"paths blow up \(NaN or inf\).*allow_diverged=True"):
        assert_matches_exact(result, "loss", 0.0, at=result.times[-1])


# --- assert_agree ------------------------------------------------------------------------------------

def test_agree_passes_for_two_seeds_of_one_method(problem, sgd_run):
    other = simulate(problem, "sgd", lr=0.2, steps=10, paths=20_000, seed=seed(5), x0=X0, checkpoints=[5, 10])
    for name in ("x", "norm2", "loss", "grad_norm2", "noise_trace"):
        assert_agree(sgd_run, other, name)


def test_agree_fails_between_sgd_and_the_sde_at_a_large_step(sgd_run, exact_sde_run):
    with pytest.raises(AssertionError) as failure:
        assert_agree(sgd_run, exact_sde_run, "x", at=2.0)
    message = str(failure.value)
    assert message.startswith("sgd and sde, l=1 on quadratic disagree on 'x'")
    assert "t = 2, x[" in message and "vs sde, l=1" in message and "standard errors (combined" in message


# --- assert_identical_results -------------------------------------------------------------------------

def test_identical_results_for_an_exact_invariant_and_not_otherwise(problem):
    kw = dict(lr=0.2, steps=4, paths=500, x0=X0)
    sgd = simulate(problem, "sgd", seed=1, **kw)
    assert_identical_results(sgd, simulate(problem, "svag", l=1, seed=1, **kw))   # SVAG at l = 1 is SGD
    with pytest.raises(AssertionError, match=r"not bit-for-bit identical(.|\n)*mean of 'x' differs in 2 of 4"):
        assert_identical_results(sgd, simulate(problem, "sgd", seed=2, **kw))


# --- assert_weak_order ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exact_study():
    return weak_error_study(linear_regression(dim=2), lr=0.1, time=1.0, exact=True, tests=("norm2", "x"),
                            l_values=[2**k for k in range(9)])


def test_weak_order_of_svag_is_one(exact_study):
    assert_weak_order(exact_study)
    assert_weak_order(exact_study, 1.0, precision=0.01, test="x[1]")
    assert_weak_order(exact_study.fits["x[0]"], 1.0)


def test_weak_order_fails_when_rejected_with_the_fit_and_the_errors(exact_study):
    with pytest.raises(AssertionError) as failure:
        assert_weak_order(exact_study, 2.0)
    message = str(failure.value)
    assert message.startswith("weak order of svag against the SDE on linear_regression (test function norm2, "
                              "reference exact): order 2 is rejected, not confirmed")
    assert "verdict: order 2 rejected: exact errors, p = 1.0000" in message
    assert "l =  256: e = " in message


def test_weak_order_from_raw_errors():
    l = np.array([1, 2, 4, 8, 16, 32])
    se = 0.001 * np.ones(6)
    noise = np.random.default_rng(seed(0)).normal(0, se)
    fit = assert_weak_order(1.0 / l + noise, l=l, stderr=se)
    assert fit.kind == "confirmed"
    # the printed p scatters about 0.5 (sd 0.002), so the text 'p = 0.5..' holds on some noises only:
    # this message check keeps the fixed seed 0 under SDESIM_TEST_SEED (on fresh seeds p prints 0.49x 4 times in 10)
    pinned = np.random.default_rng(0).normal(0, se)
    with pytest.raises(AssertionError, match=r"order 1 is rejected(.|\n)*p = 0\.5\d\d"):
        assert_weak_order(1.0 / np.sqrt(l) + pinned, l=l, stderr=se)
    with pytest.raises(AssertionError, match=r"inconclusive(.|\n)*exceeds the precision 0.25"):   # too noisy to tell
        assert_weak_order(1.0 / l, l=l, stderr=0.25 / l)
    with pytest.raises(AssertionError, match="inconclusive(.|\n)*noise floor"):
        assert_weak_order(1e-4 * np.ones(6), l=l, stderr=se)
    with pytest.raises(AssertionError, match="inconclusive(.|\n)*blew up"):
        assert_weak_order(exact_fit_with_divergence(), 1.0)


def exact_fit_with_divergence():
    from sdesim.estimators.order import fit_order

    l = 2.0 ** np.arange(5)
    return fit_order(l, 1 / l, 0.01 / l, diverged=[0, 0, 0, 0, 2])


# --- assert_one_step_moments ------------------------------------------------------------------------------

def test_one_step_moments_of_svag_and_the_sde():
    problem = quadratic(2, noise="exponential", noise_cov=[[1.0, 0.4], [0.4, 0.8]])
    check = assert_one_step_moments(problem, l=(1, 4), x=[1.0, -0.5], lr=0.4, paths=100_000, seed=seed(6))
    assert {(r["method"], r["l"], r["order"]) for r in check.rows} == {
        (m, l, k) for m in ("svag", "sde") for l in (1, 4) for k in (1, 2, 3)}


def test_one_step_moments_fail_for_a_wrong_third_moment():
    """A problem that misstates its noise's third moment Λ (here 3Λ) fails Lemma 4.7 (iii), and only (iii)."""
    problem = quadratic(2, noise="exponential", noise_cov=[[1.0, 0.4], [0.4, 0.8]])
    wrong = dataclasses.replace(problem, third_moment=lambda x: 3 * problem.third_moment(x))
    assert_one_step_moments(wrong, l=1, x=[1.0, -0.5], lr=0.4, paths=100_000, seed=seed(6), orders=(1, 2))
    with pytest.raises(AssertionError) as failure:
        assert_one_step_moments(wrong, l=1, x=[1.0, -0.5], lr=0.4, paths=100_000, seed=seed(6), methods="svag")
    message = str(failure.value)
    assert message.startswith("E Δ^{⊗3} of one svag step (l = 1, Lemma 4.7) on quadratic at x = [1.0, -0.5]")
    assert "E Δ^{⊗3}[0][0][0]: sampled" in message and "vs exact" in message
    assert "E ΔΔᵀ" not in message


# --- bad arguments: clear errors, not AssertionError ---------------------------------------------------------

def _bad_calls(result, study):
    return [
        (lambda: assert_within_stderr(1.0, 0.1, 1.0, sigmas=0), ValueError, "sigmas .* must be a finite number > 0"),
        (lambda: assert_within_stderr(1.0, -0.1, 1.0), ValueError, "stderr must be >= 0"),
        (lambda: assert_within_stderr([1.0, 2.0], [0.1] * 3, 1.0), ValueError, "broadcastable shapes"),
        (lambda: assert_within_stderr(1.0, 0.1, 1.0, atol=-1), ValueError, "atol must be a finite number >= 0"),
        (lambda: assert_matches_exact("result", "x", 0.0), TypeError, "must be an sdesim Result"),
        (lambda: assert_matches_exact(result, "norm3", 0.0), ValueError, "no observable 'norm3'; it has"),
        (lambda: assert_matches_exact(result, "x", [0.0] * 3, at=2.0), ValueError, r"must have shape \(2,\)"),
        (lambda: assert_matches_exact(result, "x", np.zeros((3, 2))), ValueError, r"must have shape \(2, 2\) \(one row per checkpoint"),
        (lambda: assert_matches_exact(result, "x", [0.0, 0.0], at=1.5), ValueError,
         "no checkpoint at t = 1.5; its checkpoint times are 1, 2"),
        (lambda: assert_matches_exact(result, "x", {"norm2": 1.0}), ValueError, "exact holds no value for 'x'"),
        (lambda: assert_agree(result, 3, "x"), TypeError, "result_b must be an sdesim Result"),
        (lambda: assert_weak_order(study, 1.0, precision=1.5), ValueError, r"precision .* in \(0, 1\)"),
        (lambda: assert_weak_order(study, float("inf")), ValueError, "expected .* must be a finite number"),
        (lambda: assert_weak_order(study, 0.8, 1.2), TypeError, "positional argument"),
        (lambda: assert_weak_order(study, 1.0, test="norm4"), ValueError, "no test function 'norm4'"),
        (lambda: assert_weak_order([0.1, 0.05], 1.0), ValueError, "pass l= .* and stderr="),
        (lambda: assert_weak_order([0.1, 0.05], 1.0, l=[1, 2, 4], stderr=[0, 0]), ValueError, "one length"),
        (lambda: assert_one_step_moments(double_well(1), l=1, methods=("sde",)), ValueError,
         "has no closed-form one-step law"),
        (lambda: assert_one_step_moments(quadratic(1), l=1, orders=(4,)), ValueError, "subset of"),
        (lambda: assert_one_step_moments(quadratic(1), l=0), ValueError, "l must be a positive integer"),
        (lambda: assert_one_step_moments("quadratic", l=1), TypeError, "must be an sdesim Problem"),
    ]


def test_bad_arguments_raise_clear_errors_before_any_comparison(exact_sde_run, exact_study):
    for call, error, message in _bad_calls(exact_sde_run, exact_study):
        with pytest.raises(error, match=message):
            call()


# --- strategies -------------------------------------------------------------------------------------------

@given(case=strategies.stable_linear_sdes())
def test_stable_linear_sdes_are_valid_stable_and_rebuild(case):
    problem, d = case.problem, case.problem.dim
    h = problem.params["hessian"]
    eig_h = np.linalg.eigvalsh(h)
    assert 0.5 - 1e-12 <= eig_h.min() and eig_h.max() <= 0.5 + d + 1e-12
    assert np.linalg.eigvalsh(problem.params["noise_cov"]).min() >= 0.1 - 1e-12
    assert case.lr * np.linalg.eigvalsh(problem.exact_sde.drift_matrix).max() <= 1 + 1e-12
    assert case.x0.shape == (d,) and np.all(np.abs(case.x0) <= 2.0)
    again = from_record({"name": problem.name, "params": problem.params})
    np.testing.assert_array_equal(again.sigma(case.x0), problem.sigma(case.x0))
    result = simulate(problem, "svag", l=2, lr=case.lr, steps=10, paths=64, seed=0, x0=case.x0)
    assert result.diverged == 0 and all(np.all(np.isfinite(result.mean(n))) for n in result.observables)


@given(case=strategies.least_squares_problems())
def test_least_squares_problems_are_well_conditioned_with_closed_moments(case):
    problem = case.problem
    a = problem.params["features"]
    n, d = a.shape
    assert n >= d + 1 and np.linalg.cond(a.T @ a) <= 100
    assert problem.params["batch_size"] <= n and problem.linear_quadratic is not None
    assert case.lr * np.linalg.eigvalsh(a.T @ a / n + problem.weight_decay * np.eye(d)).max() <= 1 + 1e-12
    result = simulate(problem, "sgd", lr=case.lr, steps=10, paths=64, seed=0, x0=case.x0)
    assert result.diverged == 0 and all(np.all(np.isfinite(result.mean(n))) for n in result.observables)


@given(case=strategies.double_wells())
def test_double_wells_stay_finite_over_short_runs(case):
    for method in ("sgd", "sde"):
        result = simulate(case.problem, method, lr=case.lr, steps=20, paths=64, seed=0, x0=case.x0)
        assert result.diverged == 0 and np.all(np.isfinite(result.mean("loss")))


def test_strategies_shrink_to_the_simplest_case():
    from hypothesis import find

    case = find(strategies.stable_linear_sdes(), lambda c: True)
    assert case.problem.dim == 1 and case.problem.params["noise"] == "gaussian"
    assert case.problem.params["batch_size"] == 1 and case.problem.weight_decay == 0.0
    np.testing.assert_array_equal(case.problem.params["hessian"], [[0.5]])
    features, _ = find(strategies.least_squares_datasets(), lambda data: True)
    np.testing.assert_array_equal(features.T @ features, features.shape[0] / features.shape[1] * np.eye(1))


def test_drawn_problems_of_one_kind_share_one_compiled_kernel():
    dims = set()

    @settings(max_examples=10)
    @given(case=strategies.stable_linear_sdes())
    def run(case):
        dims.add(case.problem.dim)
        simulate(case.problem, "svag", l=2, lr=case.lr, steps=3, paths=32, seed=0, x0=case.x0)
        simulate(case.problem, "ngd", lr=case.lr, steps=3, paths=32, seed=0, x0=case.x0)

    run()
    assert 1 in dims and len(dims) > 1   # both the kernels for d = 1 and the general ones ran
    functions = quadratic(1).functions
    stochastic = kernel_module(functions, STOCHASTIC)
    gaussian = kernel_module(functions, GAUSSIAN, constant_noise=True)
    for kernel in (stochastic.run_paths_scalar, stochastic.run_paths_any,
                   gaussian.run_paths_lanes_scalar, gaussian.run_paths_lanes):
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)


def test_strategy_arguments_are_checked():
    with pytest.raises(ValueError, match="laws must be a non-empty subset"):
        strategies.noise_laws(["cauchy"])
    with pytest.raises(ValueError, match="0 < min_value <= max_value"):
        strategies.learning_rates(0.5, 0.1)
    with pytest.raises(ValueError, match=r"dims must be \(low, high\) with 1 <= low <= high, got \(0, 3\)"):
        strategies.stable_linear_sdes(dims=(0, 3))
    with pytest.raises(ValueError, match="max_lr must be a finite number > 0"):
        strategies.least_squares_problems(max_lr=0)
    with pytest.raises(ValueError, match="samplings must be a non-empty subset"):
        strategies.least_squares_problems(samplings=["bootstrap"])
    with pytest.raises(ValueError, match=r"dims of the double well lie in \(1, 2\)"):
        strategies.double_wells(dims=(1, 3))


def test_importing_the_assertions_does_not_import_hypothesis():
    code = "import sys, sdesim.testing; print('hypothesis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
