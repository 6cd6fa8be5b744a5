"""Weak-error studies, exact moments, order fits and the Lemma 4.6/4.7 checks."""

import json
import re
import sys
from pathlib import Path

import numba
import numpy as np
import scipy.linalg
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exact_moments import quadratic_recursion
from seeds import seed
from sdesim.cli import main
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.order import fit_order
from sdesim.estimators.moment_checks import moment_checks, svag_moments, svag_third_moment_as_printed
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
    mc = simulate(problem, method, l=l, lr=lr, steps=steps, paths=20_000, seed=seed(17), x0=x0,
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
def test_the_exact_weak_error_has_order_one(case):
    """e(l) = C₁/l + C₂/l² + …: the two-term fit through exact errors confirms p = 1 to ±0.01.

    (A ratio e(l)/e(2l) at one l is not enough: where C₂/C₁ ≈ −12 it is 1.95 at l = 256.)"""
    problem, lr = case.problem, 0.05
    engine = ExactMoments(problem, lr)
    x0 = np.ones(problem.dim)
    ref = engine.observables(engine.sde_moments([1.0], x0))["norm2"][0]
    l = 2.0 ** np.arange(6, 13)
    errors = [engine.observables(engine.method_moments("svag", int(v), [20], x0))["norm2"][0] - ref for v in l]
    # a problem whose every example has the same gradient and starts at its minimum has no error at all
    assume(abs(errors[0]) > 1e-8 * max(1.0, abs(ref)))
    fit = fit_order(l, errors, np.zeros_like(l), precision=0.01)
    assert fit.kind == "confirmed", fit.verdict


def test_exact_study_runs_to_l_1024_and_confirms_order_one():
    study = weak_error_study(linear_regression(dim=3, weight_decay=0.05), lr=0.1, time=2.0, exact=True,
                             tests=("norm2", "loss", "x"), l_values=[2**k for k in range(11)])
    assert study.test_functions == ("norm2", "loss", "x[0]", "x[1]", "x[2]")   # one row per component
    for test in study.test_functions:
        assert study.fits[test].kind == "confirmed", study.fits[test].verdict
        assert study.fits[test].interval_kind == "truncation estimate"
        assert_weak_order(study, 1.0, precision=0.01, test=test)
    assert all(r.stderr == 0 and r.paths == 0 for r in study.rows)


def test_the_exact_weak_error_is_the_largest_gap_over_every_effective_step():
    problem = linear_regression(dim=2, weight_decay=0.05)
    study = weak_error_study(problem, lr=0.1, time=2.0, exact=True, tests=("norm2",), l_values=[1, 4, 16])
    engine = ExactMoments(problem, 0.1)
    steps = np.arange(1, 21)
    reference = engine.observables(engine.sde_moments(steps * 0.1, problem.start_point()))["norm2"]
    for row in study.rows:
        gaps = engine.observables(engine.method_moments("svag", row.l, steps, problem.start_point()))["norm2"] - reference
        assert row.error == pytest.approx(np.max(np.abs(gaps)), rel=1e-12)
        assert row.time == pytest.approx(0.1 * steps[np.argmax(np.abs(gaps))])
    assert len(study.recorded_times) == 20 and study.error_kind == "max_over_steps"
    at_time = weak_error_study(problem, lr=0.1, time=2.0, exact=True, tests=("norm2",), l_values=[1, 4, 16],
                               error="at_time")
    assert at_time.error_kind == "at_time" and list(at_time.recorded_times) == [2.0]
    assert all(abs(a.error) <= b.error for a, b in zip(at_time.rows, study.rows))


# --- Monte Carlo studies -------------------------------------------------------------------

def test_monte_carlo_study_with_control_variates_confirms_order_one_against_the_exact_reference():
    problem = quadratic(2, noise="exponential")
    study = weak_error_study(problem, lr=0.2, time=1.0, tests=("norm4", "norm2"), paths=40_000, seed=seed(2),
                             x0=[2.0, 2.0], l_values=[1, 2, 4, 8, 16], confidence=0.9999, precision=0.1)
    assert study.references == {"norm4": "exact", "norm2": "exact"} and study.control_variates
    assert_weak_order(study)   # norm4: fitted p = 1.000, 99.99% interval [0.951, 1.051]
    # norm2 lies in the span of the controls: its value is the exact one, and says so
    assert {r.source for r in study.rows_for("norm2")} == {"exact_in_span"}
    assert all(r.stderr == 0 for r in study.rows_for("norm2")) and study.fits["norm2"].exact
    for r in study.rows:   # the plain Monte Carlo estimate is still reported, and agrees
        assert np.isfinite(r.raw_estimate) and r.raw_stderr > 0 and abs(r.cv_residual_z) < Z
        if r.test == "norm2":
            assert_within_stderr(r.raw_estimate, r.raw_stderr, r.estimate, sigmas=Z, name=f"plain norm2, l={r.l}")
    plain = weak_error_study(problem, lr=0.2, time=1.0, tests=("norm4",), paths=40_000, seed=seed(2),
                             x0=[2.0, 2.0], l_values=[1, 16], control_variates=False, error="at_time")
    cv = weak_error_study(problem, lr=0.2, time=1.0, tests=("norm4",), paths=40_000, seed=seed(2),
                          x0=[2.0, 2.0], l_values=[1, 16], error="at_time")
    # both estimate the same errors: agreement within their combined standard errors
    for a, b in zip(plain.rows, cv.rows):
        assert a.source == "monte_carlo" and b.source == "control_variates"
        assert_within_stderr(a.error, a.stderr, b.error, expected_stderr=b.stderr, sigmas=Z, atol=0.0,
                             name=f"e({a.l}) without vs with control variates")
        assert b.stderr < a.stderr / 4  # and the control variates pay for themselves
        assert b.raw_estimate == pytest.approx(a.estimate, rel=1e-12)   # the same paths, reported beside it
        assert b.raw_stderr == pytest.approx(a.stderr, rel=1e-9)


def test_the_control_discrepancy_catches_a_kernel_that_disagrees_with_the_exact_engine(monkeypatch):
    problem = quadratic(1)
    true_moments = ExactMoments.method_moments

    def off_by_a_bit(self, method, l, steps, x0, dt=None):   # what a kernel bug would look like from outside
        moments = true_moments(self, method, l, steps, x0, dt=dt)
        return type(moments)(moments.times, moments.mean * 1.1, moments.second * 1.1)

    monkeypatch.setattr(ExactMoments, "method_moments", off_by_a_bit)
    study = weak_error_study(problem, lr=0.2, time=0.6, tests=("norm4",), l_values=[1, 2, 4], paths=20_000,
                             seed=seed(5))
    assert all(abs(r.cv_residual_z) > Z for r in study.rows)
    assert any("the kernel and the exact moment engine disagree" in w for w in study.warnings)


def test_the_max_over_steps_estimate_is_not_biased_upward():
    """Where every step's true gap is 0, the estimate of max_k |gap| averages ≤ 0 (the maximum of the
    noisy gaps themselves would average about +1.2 standard errors over five steps)."""
    from sdesim.estimators.levels import Estimate, Level
    from sdesim.estimators.study_rows import level_row as _row

    gen = np.random.default_rng(seed(11))
    steps, z = 5, []
    times = 0.2 * np.arange(1, steps + 1)
    for _ in range(400):
        levels = []
        for l in (1, 2, 4):
            full = gen.normal(size=(2, steps))           # two halves of unit variance each
            mean = np.vstack([full.mean(0), full])
            se = np.vstack([np.full(steps, np.sqrt(0.5)), np.ones((2, steps))])
            levels.append((l, Level(("svag", l, None), {"g": Estimate(mean, se, mean, se, "monte_carlo")},
                                    1000, 0, float("nan"))))
        zeros = np.zeros((3, steps))
        for i, (l, level) in enumerate(levels):
            coarser = [(c, lev.estimates["g"].mean[0]) for c, lev in levels[max(0, i - 2):i]]
            row, _ = _row(l, "g", level, coarser, zeros, zeros, times, "max_over_steps")
            z.append(row.error / row.stderr)
    z = np.array(z)
    assert z.mean() < 4 * z.std() / np.sqrt(z.size), f"mean z = {z.mean():.3f}"


def test_the_step_of_the_maximum_is_right_where_the_second_term_moves_it():
    """A known profile d_l(k) = C₁(k)/l + C₂(k)/l² over two steps, C₁ = (1, 2.2), C₂ = (1, −0.6): level
    1's gaps peak at the first step, level 2's at the second (1.9/2 against 1.5/2).  The estimate of
    each level's maximum lies within 5 standard errors of the true one (level 2 used to be predicted
    from level 1 alone, C₁ + C₂, and landed on the first step: 0.75 against 0.95)."""
    from sdesim.estimators.levels import Estimate, Level
    from sdesim.estimators.study_rows import level_row as _row

    gen = np.random.default_rng(seed(12))
    c1, c2 = np.array([1.0, 2.2]), np.array([1.0, -0.6])
    times, noise = np.array([0.5, 1.0]), 1e-4
    levels = []
    for l in (1, 2, 4, 8):
        halves = c1 / l + c2 / l**2 + gen.normal(0.0, noise, size=(2, 2))
        mean = np.vstack([halves.mean(0), halves])
        se = np.vstack([np.full(2, noise / np.sqrt(2)), np.full((2, 2), noise)])
        levels.append((l, Level(("sde", l, None), {"g": Estimate(mean, se, mean, se, "monte_carlo")}, 1000, 0,
                                float("nan"))))
    zeros = np.zeros((3, 2))
    for i, (l, level) in enumerate(levels):
        coarser = [(c, lev.estimates["g"].mean[0]) for c, lev in levels[max(0, i - 2):i]]
        row, _ = _row(l, "g", level, coarser, zeros, zeros, times, "max_over_steps")
        truth = np.max(c1 / l + c2 / l**2)
        assert abs(row.error - truth) < 5 * row.stderr, f"l = {l}: {row.error:.4f} against {truth:.4f}"


def test_the_step_of_the_maximum_of_a_real_scheme_is_unbiased_at_every_resolved_level():
    """The exact Euler gaps of an OU process's E x[0] (dX = −AX dt + S dW, A = [[1, 2], [−1, 0.5]],
    x₀ = (2, −1), H = 0.25, T = 1; the drift alone sets the mean) plus the noise of a million paths:
    at l = 4 the largest gap is at t = 0.25 (0.02683), the gap at t = 1 close behind (0.02509).  The
    two coarser levels' prediction (its noise multiplied by the extrapolation, 1.5·c₁d_{c₁} − 0.5·c₂d_{c₂})
    picked t = 1 in about half the draws: mean z = (ê − e)/se about −1 at l = 4.  Resolved levels choose on
    their own halves, whose wrong choices cost at most the noise: two steps δ apart that the halves
    cannot tell apart lose δ·Φ(−δ/2se) ≤ 0.34 se on average.  Over 400 draws each level's mean z lies
    in [−0.34, 0] within 4 of its standard errors (never above: noise cannot raise the estimate)."""
    from sdesim.estimators.levels import Estimate, Level
    from sdesim.estimators.study_rows import level_row as _row

    a, x0, step = np.array([[1.0, 2.0], [-1.0, 0.5]]), np.array([2.0, -1.0]), 0.25
    times = step * np.arange(1, 5)
    exact = np.array([scipy.linalg.expm(-a * t) @ x0 for t in times])[:, 0]
    means = {}
    for l in (1, 2, 4, 8, 16):
        m, kept = x0.copy(), []
        for k in range(1, 4 * l + 1):
            m = m - step / l * a @ m
            if k % l == 0:
                kept.append(m[0])
        means[l] = np.array(kept)
    gen = np.random.default_rng(seed(13))
    noise = 5e-4                                     # a half's standard error at a million paths
    reference = np.broadcast_to(exact, (3, 4))
    z = {l: [] for l in means}
    for _ in range(400):
        levels = []
        for l, mean in means.items():
            halves = mean + gen.normal(0.0, noise, size=(2, 4))
            stats = np.vstack([halves.mean(0), halves])
            se = np.vstack([np.full(4, noise / np.sqrt(2)), np.full((2, 4), noise)])
            levels.append((l, Level(("sde", l, None), {"g": Estimate(stats, se, stats, se, "monte_carlo")}, 10**6, 0,
                                    float("nan"))))
        for i, (l, level) in enumerate(levels):
            coarser = [(c, lev.estimates["g"].mean[0]) for c, lev in levels[max(0, i - 2):i]]
            row, _ = _row(l, "g", level, coarser, reference, np.zeros((3, 4)), times, "max_over_steps")
            z[l].append((row.error - np.max(np.abs(means[l] - exact))) / row.stderr)
    for l, values in z.items():
        values = np.array(values)
        slack = 4 * values.std() / np.sqrt(values.size)
        assert -0.34 - slack < values.mean() < slack, f"l = {l}: mean z = {values.mean():+.2f}"


def test_extrapolation_reference_without_a_closed_form():
    problem = double_well(1, barrier=0.25, noise_scale=0.5)
    study = weak_error_study(problem, lr=0.1, time=1.0, tests=("norm2",), paths=40_000, seed=seed(3),
                             x0=[0.3], l_values=[1, 2, 4, 8, 16], fit_from=1)
    assert study.references == {"norm2": "extrapolation"} and not study.control_variates
    assert {r.l for r in study.rows} == {1, 2, 4, 8, 16}
    assert study.fit.l == (1, 2, 4)   # the two finest levels made the reference
    assert "Richardson" in study.reference_notes["norm2"]
    # the shared reference correlates the fitted errors: the fit got their covariance
    cov = study.fit.covariance
    assert np.all(cov[~np.eye(3, dtype=bool)] != 0)


def test_euler_reference_and_vector_user_test_functions():
    @numba.njit
    def cos_sin(x):
        return np.array([np.cos(x[0]), np.sin(x[0])])

    problem = quadratic(1)
    study = weak_error_study(problem, lr=0.2, time=0.6, tests=("norm2",), user_tests={"trig": cos_sin},
                             reference="euler", euler_factor=4, l_values=[1, 2, 4], paths=20_000, seed=seed(4))
    assert study.test_functions == ("norm2", "trig[0]", "trig[1]")   # one row per component, never cut
    assert set(study.references.values()) == {"euler"} and "Euler" in study.reference_notes["trig[1]"]
    assert len(study.rows) == 9


def test_adding_a_user_test_keeps_every_other_tests_reference():
    @numba.njit
    def cubic(x):
        return x[0] ** 3

    problem = quadratic(1, noise="rademacher")
    kw = dict(lr=0.2, time=0.6, l_values=[1, 2, 4], paths=20_000, seed=seed(8), fit_from=1)   # cubic: extrapolated
    alone = weak_error_study(problem, tests=("norm4",), **kw)
    both = weak_error_study(problem, tests=("norm4",), user_tests={"cubic": cubic}, **kw)
    assert alone.references["norm4"] == both.references["norm4"] == "exact"
    assert both.references["cubic"] == "extrapolation"
    assert [r.error for r in alone.rows] == [r.error for r in both.rows_for("norm4")]


def test_a_reference_callable_gives_exact_values_to_the_tests_it_knows():
    problem = quadratic(1)
    sde = problem.exact_sde

    def exact(name, times):
        if name == "x":
            return np.array([sde.mean(t, np.zeros(1)) for t in times])
        return None

    study = weak_error_study(problem, lr=0.2, time=0.6, tests=("x", "norm4"), l_values=[1, 2, 4], paths=10_000,
                             seed=seed(9), reference=exact, control_variates=False)
    assert study.references == {"x[0]": "user", "norm4": "exact"}
    assert study.reference.startswith("callable") and "exact" in study.reference


def test_an_euler_sweep_reads_in_the_step_h():
    study = weak_error_study(linear_regression(dim=2), method="sde", lr=0.2, time=1.0, exact=True,
                             tests=("norm2",), l_values=[1, 2, 4, 8])
    header = next(line for line in study.table().splitlines() if line.lstrip().startswith("l "))
    assert header.split()[:2] == ["l", "h"] and "0.025" in study.table()
    assert [r["h"] for r in study.to_dict()["rows"]] == [0.2, 0.1, 0.05, 0.025]


def _zero_reference(name, times):
    return np.zeros(len(times))


@pytest.mark.parametrize("method,hyper", [("svag", {}), ("adam", {"hyperparameters": {"beta2": 0.99},
                                                                  "reference": _zero_reference})])
def test_study_runs_the_same_on_a_dask_cluster(method, hyper):
    distributed = pytest.importorskip("distributed")
    problem = quadratic(1, noise="rademacher")
    kw = dict(lr=0.2, time=0.6 if method == "svag" else 0.2, tests=("norm4",),
              l_values=[1, 2, 4] if method == "svag" else [1, 2], paths=8192, seed=9, block_size=1024, method=method,
              **hyper)
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


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(l_values=[0, 1, 2]), "l values must be integers >= 1, got 0"),
    (dict(l_values=[1, 2.5]), "l values must be integers >= 1, got 2.5"),
    (dict(l_values=[4]), "at least two l values"),
    (dict(lr=0.3), "is not a whole number of steps"),
    (dict(tests=("norm3",)), "unknown test function 'norm3'"),
    (dict(reference="oracle"), "unknown reference 'oracle'"),
    (dict(method="sgd"), "unknown method 'sgd'"),
    (dict(l_values="124"), "l values must be a list of integers"),
    (dict(paths=6), "needs at least 100 paths per level"),
    (dict(precision=0.0), r"precision .* must be a number in \(0, 1\)"),
    (dict(precision=2), r"precision .* must be a number in \(0, 1\)"),
    (dict(confidence=1.0), r"confidence must be a number in \(0, 1\)"),
    (dict(error="sometimes"), "unknown error 'sometimes'"),
    (dict(fit_from=0), "fit_from .* must be"),
    (dict(exact=True, reference=lambda name, times: None), "does not apply"),
    (dict(reference=lambda name, times: np.zeros((len(times), 2))), r"returned shape \(5, 2\) for test 'norm2'"),
    (dict(reference=lambda name, times: np.full(len(times), np.nan)), "not finite for test 'norm2'"),
    (dict(reference=lambda name, times: 1 / 0), "the reference callable .* failed for test 'norm2'"),
])
def test_bad_study_arguments_are_refused_before_any_path_moves(kwargs, message, monkeypatch):
    monkeypatch.setattr(Run, "blocks", lambda *a, **k: pytest.fail("a path moved before the error"))
    with pytest.raises(ValueError, match=message):
        weak_error_study(quadratic(1), time=0.5, **kwargs)


def test_a_test_function_must_be_compiled():
    with pytest.raises(TypeError, match="must be a numba-compiled function of x"):
        weak_error_study(quadratic(1), tests=(), user_tests={"plain": lambda x: x[0]})


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
    assert_one_step_moments(problem, l, x=x, lr=0.4, paths=100_000, seed=seed(6), sigmas=Z, atol=0.0)


def test_the_printed_third_moment_differs_from_the_derivation_and_the_numbers_side_with_the_derivation():
    problem = quadratic(2, noise="exponential")
    x = np.array([2.0, -1.0])
    for l in (1, 4):
        derived = svag_moments(problem, x, 0.5, l)[2]
        printed = svag_third_moment_as_printed(problem, x, 0.5, l)
        assert np.max(np.abs(derived + printed)) > 1e-6 if l > 1 else np.allclose(derived, -printed)
    check = moment_checks(problem, x=x, lr=0.5, l_values=[4], paths=200_000, seed=seed(1))
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
    for key in ("problem", "lr", "seed", "time", "test_functions", "reference", "references", "order", "order_ci",
                "verdict", "verdict_kind", "precision", "confidence", "error_kind", "recorded_times", "fit_from",
                "rows", "fits"):
        assert key in data
    assert data["references"] == {"norm2": "exact", "loss": "exact"} and len(data["order_ci"]) == 2
    assert data["verdict_kind"] == "confirmed" and data["error_kind"] == "max_over_steps" and data["precision"] == 0.1
    assert data["fits"]["loss"]["kind"] == "confirmed" and data["fits"]["loss"]["l"] == [2, 4, 8, 16, 32]
    assert {"l", "paths", "estimate", "reference_value", "error", "stderr", "raw_estimate", "raw_stderr",
            "cv_residual_z", "source"} <= set(data["rows"][0])
    assert data["rows"][0]["stderr"] == 0 and data["rows"][0]["source"] == "exact_moments"
    assert plot.stat().st_size > 10_000
    assert "CONFIRMED: order 1 confirmed" in capsys.readouterr().out


EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "arctan_sde.py"


def your_module(tmp_path, monkeypatch, extra=""):
    """The docs' example module written into the current directory, imported afresh."""
    (tmp_path / "arctan_sde.py").write_text(EXAMPLE.read_text() + extra)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "arctan_sde", raising=False)


def test_cli_converge_on_your_own_sde_with_your_own_reference(tmp_path, monkeypatch, capsys):
    your_module(tmp_path, monkeypatch)
    out = tmp_path / "own.json"
    assert main(["converge", "--problem", "arctan_sde:make_problem", "--test", "x,norm2,arctan_sde:sin_x",
                 "--reference", "arctan_sde:exact", "--dt", "0.25", "--time", "1", "--l", "1,2,4,8",
                 "--paths", "20000", "--seed", str(seed(0)), "--plot", "none",
                 "--json", str(out)]) == 3    # inconclusive at 20 000 paths: the finest levels are at the noise floor
    data = json.loads(out.read_text())
    assert data["test_functions"] == ["x[0]", "norm2", "sin_x"]
    assert set(data["references"].values()) == {"user"} and data["reference"] == "callable arctan_sde:exact"
    assert [r["h"] for r in data["rows"] if r["test"] == "sin_x"] == [0.25, 0.125, 0.0625, 0.03125]
    coarse = next(r for r in data["rows"] if r["test"] == "norm2" and r["l"] == 1)
    assert coarse["error"] > 10 * coarse["stderr"]     # Euler's error at h = η is resolved
    assert "test function sin_x = sin_x(x): reference user (your callable)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["converge", "--problem", "arctan_sde:nothing"], "module 'arctan_sde' has no 'nothing'"),
    (["converge", "--problem", "no_such_module:f"], "module 'no_such_module' could not be imported: no such module"),
    (["converge", "--problem", "arctan_sde:X0"], "float is not callable"),
    (["converge", "--problem", "arctan_sde:exact"], "missing 2 required positional arguments"),
    (["converge", "--problem", "arctan_sde:FUNCTIONS"], "dict is not callable"),
    (["converge", "--problem", "arctan_sde:make_problem", "--dim", "2"], "--dim do not apply to a problem from a factory"),
    (["converge", "--problem", "arctan_sde:make_problem", "--dt", "0.25", "--test", "arctan_sde:exact"],
     "must be a numba-compiled function of x"),
    (["converge", "--problem", "arctan_sde:make_problem", "--dt", "0.25", "--reference", "arctan_sde:bad_shape"],
     r"returned shape \(4, 2\) for test 'norm4'"),
    (["converge", "--problem", "arctan_sde:make_problem", "--dt", "0.25", "--reference", "arctan_sde:not_finite"], "not finite"),
    (["converge", "--problem", "arctan_sde:not_a_problem"], "returned str, not an sdesim Problem"),
    (["converge", "--precision", "1.5"], r"precision .* in \(0, 1\), got 1.5"),
    (["converge", "--paths", "6"], "at least 100 paths"),
])
def test_cli_converge_refuses_what_it_cannot_use(argv, message, tmp_path, monkeypatch, capsys):
    your_module(tmp_path, monkeypatch, extra=(
        "\ndef bad_shape(name, times):\n    return np.zeros((len(times), 2))\n"
        "\ndef not_finite(name, times):\n    return np.full(len(times), np.nan)\n"
        "\ndef not_a_problem():\n    return 'quadratic'\n"))
    monkeypatch.setattr(Run, "blocks", lambda *a, **k: pytest.fail("a path moved before the error"))
    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_cli_moments_json(tmp_path):
    out = tmp_path / "m.json"
    assert main(["moments", "--l", "1,2", "--paths", "20000", "--x", "1.5", "--json", str(out)]) == 3   # no verdict
    data = json.loads(out.read_text())
    row = data["rows"][2]
    assert {"method", "l", "order", "exact", "estimate", "stderr", "z"} <= set(row)
    assert row["method"] == "svag" and row["order"] == 3 and np.array(row["exact"]).shape == (2, 2, 2)


@pytest.mark.parametrize("argv,message", [
    (["converge", "--l", "0,1"], "l values must be integers >= 1"),
    (["converge", "--test", "norm5"], "unknown test function 'norm5'"),
    (["converge", "--problem", "double_well", "--test", "norm2", "--reference", "exact"], "reference 'exact' does not exist"),
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
    assert quad.fits["non_gaussian"] is None and "zero to rounding" in quad.verdict("non_gaussian")
    quartic = decompose(problem, lr=0.2, time=0.6, test="norm4", l_values=[1, 4], paths=50_000, x0=[2.0],
                        seed=seed(3))
    g1, g4 = (next(r for r in quartic.rows if r["l"] == l) for l in (1, 4))
    assert abs(g1["non_gaussian"]) > Z * g1["non_gaussian_stderr"]          # SGD and NGD differ (l = 1)
    # the gap closes: at l = 4 it is, beyond noise, less than half of what it is at l = 1
    assert abs(g4["non_gaussian"]) + Z * g4["non_gaussian_stderr"] < abs(g1["non_gaussian"]) / 2
    for r in quartic.rows:
        assert r["total"] == pytest.approx(r["discretization"] + r["non_gaussian"], abs=1e-12)
