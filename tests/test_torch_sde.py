"""torchsde on the engine's problems (sdesim.torch.sde) against exact Euler moments and the numba engine.

Both sides take the same Euler–Maruyama step, so only Monte Carlo error separates them:
the exact moments of the Euler recursion come from ExactMoments, and the engine's means
differ from torchsde's by less than 5 combined standard errors.
"""

import numpy as np
import pytest

from seeds import seed

torch = pytest.importorskip("torch")
pytest.importorskip("torchsde")

from sdesim import simulate  # noqa: E402
from sdesim.estimators.exact_moments import ExactMoments  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402
from sdesim.torch import sde  # noqa: E402

torch.set_num_threads(1)
Z = 5.0
OU_X0 = np.array([0.5, 2.0])
LS_X0 = np.linspace(-0.5, 0.5, 3)


def ou_problem():
    """A 2-D Ornstein–Uhlenbeck problem with weight decay (the engine's tests use the same)."""
    return quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                     noise_cov=[[1.0, 0.3], [0.3, 0.5]], noise="gaussian", weight_decay=0.1, batch_size=2)


def least_squares_problem():
    return linear_regression(dim=3, n=16, batch_size=4, weight_decay=0.05)


CASES = {"ou": (ou_problem, OU_X0), "least_squares": (least_squares_problem, LS_X0)}


def assert_close(mean, se, expected, what, floor=1e-12):
    gap = np.abs(np.asarray(mean) - expected)
    assert np.all(gap <= Z * np.asarray(se) + floor * np.maximum(1.0, np.abs(expected))), (what, mean, expected, se)


@pytest.mark.parametrize("case", CASES)
def test_torchsde_matches_exact_euler_moments(case):
    make, x0 = CASES[case]
    problem = make()
    result = sde.solve(problem, lr=0.2, l=2, steps=8, paths=20_000, seed=seed(1), x0=x0, checkpoints=[3, 8])
    exact = ExactMoments(problem, 0.2)
    expected = exact.observables(exact.method_moments("sde", 2, [3, 8], x0))
    assert result.counts.tolist() == [20_000, 20_000] and result.dt == pytest.approx(0.1)
    np.testing.assert_allclose(result.times, [0.6, 1.6])
    for name in sde.OBSERVABLES:
        assert_close(result.mean(name), result.stderr(name), expected[name], f"{case}: {name}")


@pytest.mark.parametrize("case", CASES)
def test_torchsde_matches_the_numba_engine(case):
    make, x0 = CASES[case]
    problem = make()
    kwargs = dict(lr=0.1, l=1, steps=5, x0=x0, checkpoints=[5])
    ours = sde.solve(problem, paths=20_000, seed=seed(4), **kwargs)
    engine = simulate(problem, "sde", paths=20_000, seed=seed(17), observables=list(sde.OBSERVABLES), **kwargs)
    for name in ("x", "norm2", "loss", "grad_norm2", "noise_trace"):
        se = np.hypot(ours.stderr(name), engine.stderr(name))
        assert_close(ours.mean(name), se, engine.mean(name), f"{case}: {name}")


def test_drift_and_diffusion_are_the_problems():
    problem = least_squares_problem()
    module = sde.to_torchsde(problem, lr=0.3)
    x = np.array([[0.2, -0.4, 0.9], [1.0, 0.0, -1.0]])
    y = torch.tensor(x)
    drift = module.f(0.0, y).numpy()
    g = module.g(0.0, y).numpy()
    for i in range(len(x)):
        np.testing.assert_allclose(drift[i], -(problem.mean_grad(x[i]) + 0.05 * x[i]), rtol=1e-12)
        np.testing.assert_allclose(g[i] @ g[i].T, 0.3 * problem.sigma(x[i]), rtol=1e-10, atol=1e-13)
        assert float(module.observables(y)["loss"][i]) == pytest.approx(problem.loss(x[i]), rel=1e-12)
    assert module.noise_type == "general" and module.sde_type == "ito"
