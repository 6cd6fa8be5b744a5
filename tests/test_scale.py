"""Memory and scale (issue 10): nothing lost, nothing silently wrong.

The least-squares form is built only when used and refused when it would not fit; runs
estimate their work and memory up front and refuse what cannot fit before any path moves;
an unreachable scheduler, an unwritable kernel cache and a diverging study each give one
clear message.  Memory tests are cheap: they check estimates, refusals and lazy builds
(with tracemalloc, or with the machine's memory patched small), never run big jobs.
"""

import os
import pickle
import subprocess
import sys
import time
import tracemalloc
import warnings

import numba
import numpy as np
import pytest

import sdesim
import sdesim._checks as checks
from sdesim.cli import main
from sdesim.estimators.decomposition import decompose
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.weak_error import weak_error_study
from sdesim.executors import connect, execute, split
from sdesim.kernels import build
from sdesim.kernels.stats import BlockStats
from sdesim.problems import linear_regression, quadratic
from sdesim.problems.base import ProblemFunctions
from sdesim.simulate import Run

GiB = 2**30


@pytest.fixture
def small_machine(monkeypatch):
    """This machine, as if it had ``size`` bytes of memory free (call with the size)."""
    def patch(size):
        monkeypatch.setattr(checks, "available_memory", lambda: size)
    return patch


@pytest.fixture
def no_paths_move(monkeypatch):
    """Fail the test if any path is run."""
    def moved(self, *args, **kwargs):
        raise AssertionError("a path moved before the refusal")
    monkeypatch.setattr(Run, "blocks", moved)


def regression_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


# --- 1. the least-squares form: built when used, refused when it would not fit ---------------------

def test_linear_regression_does_not_build_its_form_until_used():
    a, b = regression_data(2000, 100)      # the n×d×d form: 160 MB
    tracemalloc.start()
    try:
        problem = linear_regression(a, b, batch_size=16)
        assert problem.has_linear_quadratic
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"building the problem took {peak / 2**20:.0f} MiB"
    assert "linear_quadratic" not in vars(problem)


def test_the_form_of_a_20000_by_300_data_set_is_refused_with_its_size(small_machine):
    small_machine(4 * GiB)
    a, b = regression_data(20000, 300)
    tracemalloc.start()
    try:
        problem = linear_regression(a, b, batch_size=32)
        peak = tracemalloc.get_traced_memory()[1]
        with pytest.raises(ValueError) as error:
            problem.linear_quadratic
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    message = str(error.value)
    for part in ("n = 20000", "d = 300", "would need 13.5 GiB", "the limit is 4.0 GiB", "memory available",
                 "control_variates=False"):
        assert part in message, message
    with pytest.raises(ValueError, match=r"exact moments of problem 'linear_regression' in d = 300 .*243\.0 GiB"):
        ExactMoments(problem, 0.1)


def test_a_study_with_control_variates_refuses_what_does_not_fit_before_any_path_moves(
        small_machine, no_paths_move):
    small_machine(100 * 2**20)
    settings = dict(lr=0.01, time=0.02, tests=("norm4",), l_values=(1, 2, 4), paths=100)
    problem = linear_regression(*regression_data(20000, 30), batch_size=32)   # the form: 142 MiB
    with pytest.raises(ValueError, match=r"form of least squares on n = 20000 examples in d = 30 .* would need "
                                         r"141\.9 MiB; the limit is 100\.0 MiB .*--no-control-variates"):
        weak_error_study(problem, **settings)
    problem = linear_regression(*regression_data(20000, 300), batch_size=32)  # the controls' co-moments alone
    with pytest.raises(ValueError, match=r"184\.7 GiB of statistics"):
        weak_error_study(problem, **settings)


def test_the_lazy_form_is_the_eager_one_bit_for_bit_and_is_built_once():
    a, b = regression_data(50, 3)
    problem = linear_regression(a, b, batch_size=5)
    form = problem.linear_quadratic
    n = len(b)
    h = a.T @ a / n
    np.testing.assert_array_equal(form.hessian, h)
    np.testing.assert_array_equal(form.rows, np.einsum("ni,nj->nij", a, a) - h)
    np.testing.assert_array_equal(form.cols, a * b[:, None] - a.T @ b / n)
    assert problem.linear_quadratic is form
    assert not linear_regression(a, b, batch_size=5, sampling="reshuffle").has_linear_quadratic
    assert quadratic(2).linear_quadratic.rows.shape == (0, 2, 2)


def test_a_pickled_problem_leaves_its_built_form_behind():
    cloudpickle = pytest.importorskip("cloudpickle")
    problem = linear_regression(*regression_data(400, 10), batch_size=8)
    small = len(cloudpickle.dumps(problem))
    form = problem.linear_quadratic                        # 400×10×10 numbers: 320 kB
    assert len(cloudpickle.dumps(problem)) == small < form.rows.nbytes
    again = pickle.loads(cloudpickle.dumps(problem))
    np.testing.assert_array_equal(again.linear_quadratic.rows, form.rows)
