"""sdesim.testing on code that is not sdesim's: a plain numpy SVAG (docs/examples/numpy_svag.py).

The correct implementation passes every check; each planted bug of issue 24 is caught by the
check the testing guide names for it; the square-root trap is named; bad input (a step or a
simulator returning the wrong shape, NaN) gets a clear error.  Cheap: numpy on 2-d problems.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from seeds import seed

import sdesim
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.problems import linear_regression, quadratic
from sdesim.result import Result
from sdesim.testing import (assert_agree, assert_matches_exact, assert_one_step_moments, assert_weak_order,
                            simulator_study)

_spec = importlib.util.spec_from_file_location(
    "numpy_svag", Path(__file__).resolve().parents[1] / "docs" / "examples" / "numpy_svag.py")
numpy_svag = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(numpy_svag)
NumpySVAG = numpy_svag.NumpySVAG

A, X_STAR, S, WD, LR = [[2.0, 0.5], [0.5, 1.0]], [1.0, -1.0], [[1.0, -0.8], [-0.8, 1.0]], 0.1, 0.4
PROBLEM = quadratic(2, hessian=A, minimizer=X_STAR, noise_cov=S, noise="exponential", weight_decay=WD)
X = [0.5, 2.0]


# --- the planted bugs: each a one-line change of the correct code ---------------------------------

class SignOfC2(NumpySVAG):
    def weights(self):
        c1, c2 = super().weights()
        return c1, -c2


class SqrtL(NumpySVAG):
    def weights(self):
        root = np.sqrt(self.l)
        return (1 + root) / 2, (1 - root) / 2


class OneBatch(NumpySVAG):
    def step(self, x, rng):
        c1, c2 = self.weights()
        g = self.gradient(x, rng)
        return x - (self.lr / self.l) * (c1 * g + c2 * g + self.weight_decay * x)


class LrForSmallStep(NumpySVAG):
    def step(self, x, rng):
        c1, c2 = self.weights()
        g1, g2 = self.gradient(x, rng), self.gradient(x, rng)
        return x - self.lr * (c1 * g1 + c2 * g2 + self.weight_decay * x)


class DecayTwice(NumpySVAG):
    def gradient(self, x, rng):
        return super().gradient(x, rng) + self.weight_decay * x


def svag(cls=NumpySVAG, l=4, root="symmetric"):
    return cls(A, X_STAR, S, lr=LR, l=l, weight_decay=WD, root=root)


# --- one step ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("l", [1, 4])
def test_the_correct_step_passes(l):
    check = assert_one_step_moments(PROBLEM, step=svag(l=l).step, l=l, x=X, lr=LR, paths=100_000, seed=seed(1))
    assert [r["order"] for r in check.rows] == [1, 2, 3] and check.passed


@pytest.mark.parametrize("bug, moment", [(SignOfC2, "E Δ of"), (SqrtL, "E ΔΔᵀ of"), (OneBatch, "E ΔΔᵀ of"),
                                         (LrForSmallStep, "E Δ of"), (DecayTwice, "E Δ of")])
def test_each_planted_bug_is_caught_by_its_moment(bug, moment):
    with pytest.raises(AssertionError) as failure:
        assert_one_step_moments(PROBLEM, step=svag(bug).step, l=4, x=X, lr=LR, paths=100_000, seed=seed(2))
    message = str(failure.value)
    assert message.startswith(moment + " one small step of your SVAG (l = 4"), message
    assert "standard errors" in message and "square-root trap" not in message


def test_a_cholesky_factor_is_named_as_the_square_root_trap_and_passes_when_declared():
    cholesky = svag(root="cholesky").step
    with pytest.raises(AssertionError) as failure:
        assert_one_step_moments(PROBLEM, step=cholesky, l=4, x=X, lr=LR, paths=100_000, seed=seed(3))
    message = str(failure.value)
    assert message.startswith("E Δ^{⊗3} of one small step") and "E Δ of" not in message
    assert "square-root trap" in message and "assumed the symmetric root" in message
    assert "with the cholesky root the largest gap is" in message and "pass noise_factor='cholesky'" in message
    assert_one_step_moments(PROBLEM, step=cholesky, l=4, x=X, lr=LR, paths=100_000, seed=seed(3),
                            noise_factor="cholesky")
    assert_one_step_moments(PROBLEM, step=cholesky, l=4, x=X, lr=LR, paths=100_000, seed=seed(3),
                            noise_factor=np.linalg.cholesky(S))
    with pytest.raises(AssertionError, match="pass noise_factor='symmetric'"):   # the other way round
        assert_one_step_moments(PROBLEM, step=svag().step, l=4, x=X, lr=LR, paths=100_000, seed=seed(3),
                                noise_factor="cholesky")
    # orders 1 and 2 do not depend on the root
    assert_one_step_moments(PROBLEM, step=cholesky, l=4, x=X, lr=LR, paths=100_000, seed=seed(3), orders=(1, 2))


def test_noise_shared_across_paths_is_named():
    def shared(x, rng):
        one = svag().step(x[:1], rng)
        return np.repeat(one, len(x), axis=0)
    with pytest.raises(AssertionError, match="every row got the same increment"):
        assert_one_step_moments(PROBLEM, step=shared, l=4, x=X, lr=LR, paths=1000, seed=0)


def _wrong_shape(x, rng):
    return x[:, :1]


def _nan(x, rng):
    out = svag().step(x, rng)
    out[7, 1] = np.nan
    return out


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(step=_wrong_shape), ValueError, r"must return the next points, an array of shape \(1000, 2\).*got shape "
                                          r"\(1000, 1\)"),
    (dict(step=lambda x, rng: "x"), TypeError, "must return an array of numbers of shape"),
    (dict(step=lambda x, rng: [["a", "b"]] * len(x)), TypeError, "must return an array of numbers"),
    (dict(step=_nan), AssertionError, r"not finite \(NaN or inf\) in 1 of 1000 rows, the first in row 7"),
    (dict(step="svag"), TypeError, "step must be a function step"),
    (dict(step=svag().step, l=(1, 4)), ValueError, "l must be the one integer"),
    (dict(step=svag().step, lr=0), ValueError, "lr .* must be a number > 0"),
    (dict(step=svag().step, paths=1), ValueError, "paths must be an integer >= 2"),
    (dict(step=svag().step, noise_factor="qr"), ValueError, "noise_factor must be one of"),
    (dict(step=svag().step, noise_factor=np.eye(2)), ValueError, "not a square root of the problem's noise"),
    (dict(noise_factor="cholesky"), ValueError, "noise_factor= goes with step="),
    (dict(step=svag().step, methods="sde"), ValueError, "methods 'svag' only"),
])
def test_bad_input_to_the_step_check(kwargs, error, match):
    arguments = dict(l=4, x=X, lr=LR, paths=1000, seed=0)
    with pytest.raises(error, match=match):
        assert_one_step_moments(PROBLEM, **{**arguments, **kwargs})


def test_noise_factor_on_a_problem_without_a_factor_is_refused():
    with pytest.raises(ValueError, match="not drawn through a factor"):
        assert_one_step_moments(linear_regression(dim=2), step=lambda x, rng: x, l=1, lr=0.1, paths=100,
                                noise_factor="cholesky")


# --- Result.from_samples ------------------------------------------------------------------------------

X0 = np.array([0.5, 2.0])


def numpy_result(cls=NumpySVAG, l=1, steps=5, paths=20_000, rng_seed=0):
    x = cls(A, X_STAR, S, lr=LR, l=l, weight_decay=WD).run(X0, steps, paths, np.random.default_rng(rng_seed))
    return Result.from_samples(LR * np.arange(1, steps + 1), {"x": x, "norm2": (x**2).sum(axis=2)},
                               problem="quadratic", method="numpy svag", lr=LR, l=l, seed=rng_seed)


def test_from_samples_gives_means_and_standard_errors():
    values = np.array([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
    result = Result.from_samples([0.5, 1.0], {"g": values})
    np.testing.assert_allclose(result.mean("g"), [3.0, 0.5])
    np.testing.assert_allclose(result.stderr("g"), [np.std(values[0], ddof=1) / 2, np.std(values[1], ddof=1) / 2])
    assert result.paths == 4 and result.diverged == 0 and result.counts.tolist() == [4, 4]


def test_from_samples_checks_any_simulator_against_exact_means_and_sdesim():
    engine = ExactMoments(PROBLEM, LR)
    exact = engine.observables(engine.method_moments("svag", 4, [1, 2, 3, 4, 5], X0))
    result = numpy_result(l=4, rng_seed=seed(4))
    assert_matches_exact(result, "x", exact["x"])
    assert_matches_exact(result, "norm2", exact["norm2"])
    with pytest.raises(AssertionError, match="numpy svag on quadratic does not match the exact 'x'"):
        assert_matches_exact(numpy_result(DecayTwice, l=4, rng_seed=seed(4)), "x", exact["x"])
    sgd = sdesim.simulate(PROBLEM, "sgd", lr=LR, steps=5, paths=20_000, seed=seed(5), x0=X0,
                          checkpoints=[1, 2, 3, 4, 5])
    assert_agree(numpy_result(rng_seed=seed(6)), sgd, "norm2")
    with pytest.raises(AssertionError, match="disagree on 'norm2'"):
        assert_agree(numpy_result(DecayTwice, rng_seed=seed(6)), sgd, "norm2")


def test_from_samples_counts_blown_up_paths_and_refuses_bad_shapes():
    x = np.ones((3, 10, 2))
    x[1, 4, 0] = np.inf
    result = Result.from_samples([1, 2, 3], {"x": x})
    assert result.diverged == 1 and result.counts.tolist() == [10, 9, 9] and result.first_divergence_time == 2.0
    np.testing.assert_allclose(result.mean("x"), 1.0)
    with pytest.raises(AssertionError, match=r"1 of 10 paths blow up \(NaN or inf\), the first at t = 2"):
        assert_matches_exact(result, "x", np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"shape \(len\(times\), paths\) or .* with 2 times .* got shape \(3, 10, 2\)"):
        Result.from_samples([1, 2], {"x": x})
    with pytest.raises(ValueError, match="has 5 paths, the others 10"):
        Result.from_samples([1, 2, 3], {"x": x, "y": np.ones((3, 5))})
    with pytest.raises(TypeError, match="non-empty dict"):
        Result.from_samples([1, 2, 3], x)


# --- the weak order of a simulator ---------------------------------------------------------------------

K = 4
TIMES = LR * np.arange(1, K + 1)
X0_FAR = np.array([3.0, 2.0])


def exact_norm2(times):
    return np.array([PROBLEM.exact_sde.observables(t, X0_FAR, LR)["norm2"] for t in times])


def simulator(cls):
    return lambda l, paths, rng: cls(A, X_STAR, S, lr=LR, l=l, weight_decay=WD).run(X0_FAR, K, paths, rng)


def exact_transition(paths, rng):
    """A reference simulator: the SDE's exact Gaussian transition over η, K times."""
    f, c, k = PROBLEM.exact_sde.transition(LR, LR)
    x, out = np.tile(X0_FAR, (paths, 1)), np.empty((K, paths, 2))
    for i in range(K):
        x = x @ f.T + c + rng.standard_normal(x.shape) @ k.T
        out[i] = x
    return out


def test_simulator_study_confirms_order_one_of_the_correct_svag_and_rejects_one_batch():
    # seed fixed, also under SDESIM_TEST_SEED: at 40 000 paths the rule confirms order 1 on 18 of 20 fresh seeds
    # (seeds 1000…1019) and leaves the other 2 inconclusive, never rejected; a verdict is no k-standard-error check
    study = simulator_study(simulator(NumpySVAG), times=TIMES, exact=exact_norm2, l_values=(1, 2, 4, 8, 16, 32),
                            paths=40_000, seed=7)
    assert_weak_order(study, 1.0)
    assert "test function norm2" in study.table() and "reference exact" in study.table()
    one_batch = simulator_study(simulator(OneBatch), times=TIMES, exact=exact_norm2(TIMES), l_values=(1, 2, 4, 8, 16),
                                paths=10_000, seed=seed(8))
    assert one_batch.fit.kind == "rejected" and "level off" in one_batch.fit.verdict
    with pytest.raises(AssertionError, match="order 1 is rejected"):
        assert_weak_order(one_batch, 1.0)


def test_simulator_study_against_a_reference_simulator():
    study = simulator_study(simulator(OneBatch), times=TIMES, reference=exact_transition, l_values=(1, 2, 4, 8, 16),
                            paths=10_000, seed=seed(9))
    assert study.references == {"norm2": "user"} and study.fit.kind == "rejected"


def _nan_at_8(l, paths, rng):
    x = simulator(NumpySVAG)(l, paths, rng)
    if l == 8:
        x[2, 3, 0] = np.nan
    return x


def test_simulator_study_with_a_diverged_level_is_inconclusive():
    study = simulator_study(_nan_at_8, times=TIMES, exact=exact_norm2, l_values=(1, 2, 4, 8), paths=200, seed=0)
    assert study.fit.kind == "inconclusive" and "blew up" in study.fit.verdict
    assert any("l = 8: 1 of 200 paths diverged" in w for w in study.warnings)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(simulate=lambda l, paths, rng: np.zeros((paths, 2))), ValueError,
     r"simulate\(l=1, paths=200, rng\) must return the paths at the 4 recorded times, an array of shape "
     r"\(4, 200, d\), got shape \(200, 2\)"),
    (dict(test=lambda x: x), ValueError, r"test\(x\) must map x of shape \(paths, d\) to one value per path"),
    (dict(reference=exact_transition), ValueError, "one of them"),
    (dict(exact=None), ValueError, "one of them"),
    (dict(exact=[1.0, 2.0]), ValueError, "one finite E g"),
    (dict(paths=50), ValueError, "at least 100 paths"),
    (dict(times=[1.0, 0.5, 2.0, 3.0]), ValueError, "increasing"),
    (dict(simulate="svag"), TypeError, "simulate must be a function"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
])
def test_bad_input_to_simulator_study(kwargs, error, match):
    arguments = dict(simulate=simulator(NumpySVAG), times=TIMES, exact=exact_norm2, l_values=(1, 2, 4), paths=200)
    with pytest.raises(error, match=match):
        simulator_study(**{**arguments, **kwargs})
