"""Weak-error studies, exact moments, order fits and the Lemma 4.6/4.7 checks."""

import json

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_moments import quadratic_recursion
from sdesim.cli import main
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.moment_checks import moment_checks, svag_moments, svag_third_moment_as_printed
from sdesim.estimators.order import fit_order
from sdesim.estimators.weak_error import weak_error_study
from sdesim.executors import execute, split
from sdesim.kernels.stats import BlockStats
from sdesim.problems import double_well, linear_regression, quadratic, scale_invariant
from sdesim.simulate import Run, simulate
from sdesim.testing import assert_matches_exact, assert_one_step_moments, assert_weak_order, assert_within_stderr
from sdesim.testing import strategies

Z = 5.0

# problems whose first two moments close: quadratics with SPD H, well-conditioned least squares (i.i.d. batches)
LINEAR_QUADRATIC = st.one_of(strategies.stable_linear_sdes(), strategies.least_squares_problems())


# --- the exact moment engine -------------------------------------------------------------

@given(case=LINEAR_QUADRATIC, l=st.sampled_from([1, 2, 4]), method=st.sampled_from(["svag", "sde"]))
def test_exact_moments_agree_with_monte_carlo(case, l, method):
    problem, lr, x0, steps = case.problem, case.lr, case.x0, 5
    engine = ExactMoments(problem, lr)
    exact = engine.observables(engine.method_moments(method, l, [steps], x0))
    mc = simulate(problem, method, l=l, lr=lr, steps=steps, paths=20_000, seed=17, x0=x0,
                  observables=["x", "norm2", "loss", "grad_norm2", "noise_trace"])
    for name in ("x", "norm2", "loss", "grad_norm2", "noise_trace"):
        assert_matches_exact(mc, name, exact[name][0], at=mc.times[-1], sigmas=Z)


def test_exact_moments_match_the_discrete_recursion_and_the_closed_form():
    problem = quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                        noise_cov=[[1.0, 0.3], [0.3, 0.5]], weight_decay=0.1, batch_size=2)
    x0 = np.array([0.5, 2.0])
    engine = ExactMoments(problem, 0.2)
    for method, l in (("sgd", 1), ("svag", 4), ("ngd", 1), ("sde", 2)):
        moments = engine.method_moments(method, l, [8], x0)
        m, c = quadratic_recursion(problem, method, 0.2, l, 8, x0)
        np.testing.assert_allclose(moments.mean[0], m, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(moments.second[0], c + np.outer(m, m), rtol=1e-13, atol=1e-14)
    sde = engine.sde_moments([1.6], x0)
    np.testing.assert_allclose(sde.mean[0], problem.exact_sde.mean(1.6, x0), rtol=1e-13)
    np.testing.assert_allclose(sde.second[0] - np.outer(sde.mean[0], sde.mean[0]),
                               problem.exact_sde.cov(1.6, 0.2), rtol=1e-12, atol=1e-14)


@given(case=LINEAR_QUADRATIC)
def test_halving_one_over_l_halves_the_exact_weak_error(case):
    problem, lr = case.problem, 0.05
    engine = ExactMoments(problem, lr)
    x0 = np.ones(problem.dim)
    ref = engine.observables(engine.sde_moments([1.0], x0))["norm2"][0]
    errors = [abs(engine.observables(engine.method_moments("svag", l, [20], x0))["norm2"][0] - ref)
              for l in (256, 512)]
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.02)


def test_exact_study_runs_to_l_1024_and_confirms_order_one():
    study = weak_error_study(linear_regression(dim=3, weight_decay=0.05), lr=0.1, time=2.0, exact=True,
                             tests=("norm2", "loss", "x"), l_values=[2**k for k in range(11)])
    for test in ("norm2", "loss", "x"):
        assert study.fits[test].confirmed, study.fits[test].verdict
        assert_weak_order(study, 0.99, 1.01, test=test)   # the order and the spread of the finest local slopes
    assert all(r.stderr == 0 and r.paths == 0 for r in study.rows)


# --- Monte Carlo studies -------------------------------------------------------------------

def test_monte_carlo_study_with_control_variates_confirms_order_one_against_the_exact_reference():
    problem = quadratic(2, noise="exponential")
    study = weak_error_study(problem, lr=0.2, time=1.0, tests=("norm4",), paths=40_000, seed=2,
                             x0=[2.0, 2.0], l_values=[1, 2, 4, 8, 16])
    assert study.reference == "exact" and study.control_variates
    assert study.fit.confirmed, study.verdict
    assert_weak_order(study, 0.8, 1.2)   # fitted p = 1.025, 95% interval [0.989, 1.060]
    plain = weak_error_study(problem, lr=0.2, time=1.0, tests=("norm4",), paths=40_000, seed=2,
                             x0=[2.0, 2.0], l_values=[1, 16], control_variates=False)
    # both estimate the same errors: agreement within their combined standard errors
    for a in plain.rows:
        b = next(r for r in study.rows if r.l == a.l)
        assert_within_stderr(a.error, a.stderr, b.error, expected_stderr=b.stderr, sigmas=Z, atol=0.0,
                             name=f"e({a.l}) without vs with control variates")
        assert b.stderr < a.stderr / 4  # and the control variates pay for themselves


def test_extrapolation_reference_without_a_closed_form():
    problem = double_well(1, barrier=0.25, noise_scale=0.5)
    study = weak_error_study(problem, lr=0.1, time=1.0, tests=("norm2",), paths=40_000, seed=3,
                             x0=[0.3], l_values=[1, 2, 4, 8, 16])
    assert study.reference == "extrapolation" and not study.control_variates
    assert {r.l for r in study.rows} == {1, 2, 4, 8, 16}
    assert set(study.fit.used) <= {1, 2, 4}  # the two finest levels made the reference
    assert "Richardson" in study.reference_note


def test_euler_reference_and_user_test_functions():
    @numba.njit
    def cos_first(x):
        return np.cos(x[0])

    problem = quadratic(1)
    study = weak_error_study(problem, lr=0.2, time=0.6, tests=(), user_tests={"cos": cos_first},
                             reference="euler", euler_factor=4, l_values=[1, 2, 4], paths=20_000, seed=4)
    assert study.test_functions == ("cos",) and study.reference == "euler"
    assert "Euler" in study.reference_note
    assert len(study.rows) == 3


def test_study_runs_the_same_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    problem = quadratic(1, noise="rademacher")
    kw = dict(lr=0.2, time=0.6, tests=("norm4",), l_values=[1, 2, 4], paths=8192, seed=9, block_size=1024)
    local = weak_error_study(problem, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = weak_error_study(problem, client=client, **kw)
    for a, b in zip(local.rows, remote.rows):
        assert (a.estimate, a.error, a.stderr) == (b.estimate, b.error, b.stderr)


@given(order=st.permutations(list(range(6))))
def test_merging_task_results_in_any_order_gives_the_same_totals(order):
    problem = linear_regression(batch_size=2)
    run = Run(problem, "svag", l=2, lr=0.1, steps=3, seed=1, block_size=128, covariance=True)
    tasks = split(("svag", 2), run, {}, 6 * 128 * 2, tasks_per_label=6)
    parts = [run.blocks(t.path_offset, t.paths) for t in tasks]
    reference = BlockStats.concatenate(parts)
    shuffled = BlockStats.concatenate([parts[i] for i in order])
    for got, want in zip(shuffled.summary(), reference.summary()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(shuffled.covariance(), reference.covariance())


def test_ctrl_c_keeps_the_finished_points(monkeypatch):
    problem = quadratic(1)
    calls = {"n": 0}
    original = Run.blocks

    def interrupted(self, offset, paths):
        calls["n"] += 1
        if calls["n"] > 8:  # the first label's 8 tasks finish, then Ctrl-C
            raise KeyboardInterrupt
        return original(self, offset, paths)

    monkeypatch.setattr(Run, "blocks", interrupted)
    runs = {("svag", l, None): Run(problem, "svag", l=l, lr=0.1, steps=2, seed=0) for l in (1, 2)}
    tasks = [t for label, run in runs.items() for t in split(label, run, {}, 8192)]
    outcome = execute(problem, tasks, runs)
    assert outcome.interrupted
    assert list(outcome.stats) == [("svag", 1, None)]


# --- the order fit -------------------------------------------------------------------------

def test_order_fit_on_synthetic_errors():
    l = np.array([1, 2, 4, 8, 16, 32, 64], float)
    gen = np.random.default_rng(0)
    se = 0.002 * np.ones_like(l)
    e = 1.0 / l * (1 + 0.3 / l) + gen.normal(0, se)
    fit = fit_order(l, e, se)
    assert fit.confirmed and fit.ci[0] <= 1.0 <= fit.ci[1], fit.verdict
    half = fit_order(l, 1.0 / np.sqrt(l) + gen.normal(0, se), se)
    assert not half.confirmed and half.order == pytest.approx(0.5, abs=0.05)
    floor = fit_order(l, 1e-4 * gen.normal(size=l.size), se)
    assert not floor.confirmed and "noise floor" in floor.verdict
    diverged = fit_order(l, e, se, diverged=[0, 0, 0, 0, 0, 0, 3])
    assert not diverged.confirmed and "divergence" in diverged.verdict


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(l_values=[0, 1, 2]), "l values must be integers >= 1, got 0"),
    (dict(l_values=[1, 2.5]), "l values must be integers >= 1, got 2.5"),
    (dict(l_values=[4]), "at least two l values"),
    (dict(time=0.25, lr=0.1), "is not a whole number of steps"),
    (dict(tests=("norm3",)), "unknown test function 'norm3'"),
    (dict(reference="oracle"), "unknown reference 'oracle'"),
    (dict(method="sgd"), "unknown method 'sgd'"),
])
def test_bad_study_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        weak_error_study(quadratic(1), **kwargs)


def test_references_and_exact_moments_that_do_not_exist_are_refused():
    with pytest.raises(ValueError, match="reference 'exact' does not exist"):
        weak_error_study(double_well(1), reference="exact")
    with pytest.raises(ValueError, match="reference 'exact' does not exist"):
        weak_error_study(linear_regression(), tests=("norm4",), reference="exact")
    with pytest.raises(ValueError, match="has no closed moment recursions"):
        weak_error_study(scale_invariant(), exact=True)
    with pytest.raises(ValueError, match="need Monte Carlo"):
        weak_error_study(quadratic(1), tests=("norm4",), exact=True)

    @numba.njit
    def nan_test(x):
        return np.nan

    @numba.njit
    def matrix_test(x):
        return np.ones((2, 2))

    with pytest.raises(ValueError, match="is not finite"):
        weak_error_study(quadratic(1), tests=(), user_tests={"bad": nan_test})
    with pytest.raises(ValueError, match="must return a number or a 1-d array"):
        weak_error_study(quadratic(1), tests=(), user_tests={"bad": matrix_test})


# --- Lemma 4.6 and 4.7 ------------------------------------------------------------------

@given(x=st.lists(st.floats(-2, 2), min_size=2, max_size=2), l=st.sampled_from([1, 3, 8]))
def test_moment_check_exact_values_agree_with_monte_carlo(x, l):
    problem = quadratic(2, noise="exponential", noise_cov=[[1.0, 0.4], [0.4, 0.8]])
    assert_one_step_moments(problem, l, x=x, lr=0.4, paths=100_000, seed=6, sigmas=Z, atol=0.0)


def test_the_printed_third_moment_differs_from_the_derivation_and_the_numbers_side_with_the_derivation():
    problem = quadratic(2, noise="exponential")
    x = np.array([2.0, -1.0])
    for l in (1, 4):
        derived = svag_moments(problem, x, 0.5, l)[2]
        printed = svag_third_moment_as_printed(problem, x, 0.5, l)
        assert np.max(np.abs(derived + printed)) > 1e-6 if l > 1 else np.allclose(derived, -printed)
    check = moment_checks(problem, x=x, lr=0.5, l_values=[4], paths=200_000, seed=1)
    third = next(r for r in check.rows if r["method"] == "svag" and r["order"] == 3)
    assert third["max_abs_z"] <= Z and third["paper_max_abs_z"] > 50 and third["paper_sign_corrected_max_abs_z"] > 50


def test_remainders_shrink_like_l_to_the_minus_2():
    check = moment_checks(quadratic(2, noise="exponential"), x=[1.0, 0.0], lr=0.5, l_values=[1], paths=1000,
                          remainder_l=[64, 128, 256])
    for key in ("svag_2", "svag_3", "sde_1", "sde_2", "sde_3"):
        values = [r[key] for r in check.remainders]  # remainder × l²
        assert values[2] == pytest.approx(values[1], rel=0.05) and values[1] == pytest.approx(values[0], rel=0.1)


# --- command line -------------------------------------------------------------------------

def test_cli_converge_exact_writes_the_json_contract(tmp_path, capsys):
    out, plot = tmp_path / "c.json", tmp_path / "c.png"
    assert main(["converge", "--problem", "linear_regression", "--exact", "--test", "norm2,loss", "--lr", "0.1",
                 "--time", "1", "--l", "1,2,4,8,16,32", "--json", str(out), "--plot", str(plot)]) == 0
    data = json.loads(out.read_text())
    for key in ("problem", "lr", "seed", "time", "test_functions", "reference", "order", "order_ci", "verdict", "rows"):
        assert key in data
    assert data["reference"] == "exact" and len(data["order_ci"]) == 2
    assert {"l", "paths", "estimate", "reference_value", "error", "stderr"} <= set(data["rows"][0])
    assert data["rows"][0]["stderr"] == 0
    assert plot.stat().st_size > 10_000
    assert "order 1 confirmed" in capsys.readouterr().out


def test_cli_moments_json(tmp_path):
    out = tmp_path / "m.json"
    assert main(["moments", "--l", "1,2", "--paths", "20000", "--x", "1.5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    row = data["rows"][2]
    assert {"method", "l", "order", "exact", "estimate", "stderr", "z"} <= set(row)
    assert row["method"] == "svag" and row["order"] == 3 and np.array(row["exact"]).shape == (2, 2, 2)


@pytest.mark.parametrize("argv,message", [
    (["converge", "--l", "0,1"], "l values must be integers >= 1"),
    (["converge", "--time", "0.3", "--lr", "0.2"], "not a whole number of steps"),
    (["converge", "--problem", "double_well", "--exact"], "no closed moment recursions"),
    (["converge", "--problem", "double_well", "--reference", "exact"], "reference 'exact' does not exist"),
])
def test_cli_converge_bad_input(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# --- eq. (4) --------------------------------------------------------------------------------

def test_decomposition_separates_the_non_gaussian_gap_which_closes_with_l():
    from sdesim.estimators.decomposition import decompose

    problem = quadratic(1, noise="exponential")
    quad = decompose(problem, lr=0.2, time=0.6, test="norm2", l_values=[1, 4], paths=8192, x0=[2.0])
    assert all(abs(r["non_gaussian"]) < 1e-12 for r in quad.rows)  # quadratic g cannot see the noise's shape
    assert "zero to rounding" in quad.fits["non_gaussian"].verdict
    quartic = decompose(problem, lr=0.2, time=0.6, test="norm4", l_values=[1, 4], paths=50_000, x0=[2.0], seed=3)
    g1, g4 = (next(r for r in quartic.rows if r["l"] == l) for l in (1, 4))
    assert abs(g1["non_gaussian"]) > Z * g1["non_gaussian_stderr"]          # SGD and NGD differ (l = 1)
    # the gap closes: at l = 4 it is, beyond noise, less than half of what it is at l = 1
    assert abs(g4["non_gaussian"]) + Z * g4["non_gaussian_stderr"] < abs(g1["non_gaussian"]) / 2
    for r in quartic.rows:
        assert r["total"] == pytest.approx(r["discretization"] + r["non_gaussian"], abs=1e-12)
