"""The public boundary: clear errors before any work, JSON round trips, the CLI, custom problems."""

import json

import numba
import numpy as np
import pytest

import sdesim
import user_problem
from seeds import seed
from sdesim import Result, simulate
from sdesim.cli import main
from sdesim.problems import custom, from_record, linear_regression, quadratic
from sdesim.testing import assert_identical_results

QUAD = quadratic(2)

BAD_CALLS = [
    (dict(l=0, method="svag"), "l must be a positive integer, got 0"),
    (dict(l=2.5, method="svag"), "l must be a positive integer, got 2.5"),
    (dict(l=-3, method="svag"), "l must be a positive integer"),
    (dict(lr=0.0), r"lr \(the learning rate η\) must be finite and > 0, got 0.0"),
    (dict(lr=-0.1), r"must be finite and > 0"),
    (dict(lr=float("nan")), r"must be finite and > 0"),
    (dict(steps=-1), "steps must be a non-negative integer, got -1"),
    (dict(paths=0), "paths must be a positive integer, got 0"),
    (dict(paths=-5), "paths must be a positive integer"),
    (dict(method="lion"), "unknown method 'lion'; allowed: 'sgd', 'svag', 'ngd', 'sde', 'rmsprop', 'adam'"),
    (dict(method="sgd", l=4), "method 'sgd' takes no l"),
    (dict(x0=[1.0, 2.0, 3.0]), "x0 must have 2 entries"),
    (dict(x0=[np.nan, 0.0]), "x0 must contain only finite numbers"),
    (dict(method="sde", dt=0.03, lr=0.1), "not a whole number of steps"),
    (dict(method="sde", scheme="milstein"), "unknown scheme 'milstein'"),
    (dict(observables=["norm3"]), "unknown observable 'norm3'"),
    (dict(checkpoints=[5, 2]), "strictly increasing"),
    (dict(checkpoints=[0, 500]), "beyond steps=100"),
    (dict(path_offset=10), "multiple of block_size"),
    (dict(seed=-1), "seed"),
]


@pytest.mark.parametrize("kwargs,message", BAD_CALLS, ids=[m[:30] for _, m in BAD_CALLS])
def test_bad_simulate_arguments_fail_before_any_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate(QUAD, **{"method": "sgd", **kwargs})


BAD_PROBLEMS = [
    (lambda: quadratic(2, noise_cov=[[1.0, 0.0], [0.0, -0.5]]), "noise_cov must be positive semi-definite"),
    (lambda: quadratic(2, hessian=[[1.0, 2.0], [0.0, 1.0]]), "hessian must be symmetric"),
    (lambda: quadratic(2, hessian=np.eye(3)), r"hessian must have shape \(2, 2\), got \(3, 3\)"),
    (lambda: quadratic(2, noise="cauchy"), "unknown noise law 'cauchy'; allowed: 'gaussian', 'rademacher', 'exponential'"),
    (lambda: quadratic(0), "dim must be a positive integer, got 0"),
    (lambda: linear_regression(np.ones((5, 2)), np.ones(4)), "features has 5 rows but targets has 4"),
    (lambda: linear_regression(np.ones((5, 2)), np.ones(5), batch_size=6, sampling="without_replacement"),
     "batch_size 6 exceeds the 5 examples"),
    (lambda: linear_regression(sampling="bootstrap"), "unknown sampling 'bootstrap'"),
    (lambda: linear_regression(batch_size=0), "batch_size must be a positive integer"),
    (lambda: sdesim.problems.make_problem("rosenbrock"), "unknown problem 'rosenbrock'"),
    (lambda: sdesim.problems.double_well(3), "dim of the double well must be 1 or 2"),
]


@pytest.mark.parametrize("make,message", BAD_PROBLEMS, ids=[m[:30] for _, m in BAD_PROBLEMS])
def test_bad_problem_arguments_are_refused_with_what_is_allowed(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_exact_scheme_needs_a_closed_form():
    with pytest.raises(ValueError, match="scheme 'exact' needs a closed-form SDE solution"):
        simulate(linear_regression(), "sde", scheme="exact")


def test_json_round_trip_and_rerun_from_the_record(tmp_path):
    problem = linear_regression(dim=2, n=10, batch_size=3, sampling="reshuffle", weight_decay=0.01)
    result = simulate(problem, "svag", l=2, lr=0.1, steps=6, paths=500, seed=4, checkpoints=[2, 4], keep_paths=2)
    path = tmp_path / "r.json"
    result.to_json(path)
    data = json.loads(path.read_text())
    for field in ("problem", "method", "lr", "l", "steps", "paths", "seed", "times", "observables"):
        assert field in data
    assert data["observables"]["x"]["mean"][1] == result.mean("x")[1].tolist()
    back = Result.from_json(path)
    for name in result.observables:
        np.testing.assert_array_equal(back.mean(name), result.mean(name))
        np.testing.assert_array_equal(back.stderr(name), result.stderr(name))
    np.testing.assert_array_equal(back.kept_paths, result.kept_paths)
    again = simulate(from_record(data["problem"]), data["method"], lr=data["lr"], l=data["l"], steps=data["steps"],
                     paths=data["paths"], seed=data["seed"], x0=data["x0"], checkpoints=[2, 4])
    for name in result.observables:
        np.testing.assert_array_equal(again.mean(name), result.mean(name))


def test_cli_simulate_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "cli.json"
    code = main(["simulate", "--problem", "quadratic", "--method", "svag", "--l", "4", "--lr", "0.05",
                 "--steps", "10", "--paths", "2000", "--seed", "3", "--dim", "3", "--noise", "rademacher",
                 "--x0", "0.5", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "svag (l=4) on quadratic" in printed and "norm2" in printed
    data = json.loads(out.read_text())
    assert data["l"] == 4 and data["problem"]["params"]["noise"] == "rademacher"
    assert data["x0"] == [0.5, 0.5, 0.5] and data["times"] == [0.0, 0.5]
    direct = simulate(from_record(data["problem"]), "svag", l=4, lr=0.05, steps=10, paths=2000, seed=3,
                      x0=[0.5] * 3)
    assert data["observables"]["norm2"]["mean"] == direct.mean("norm2").tolist()


def test_cli_reads_npz_and_csv_data(tmp_path, capsys):
    gen = np.random.default_rng(0)
    a, b = gen.standard_normal((12, 2)), gen.standard_normal(12)
    np.savez(tmp_path / "d.npz", features=a, targets=b)
    np.savetxt(tmp_path / "d.csv", np.column_stack([a, b]), delimiter=",", header="a1,a2,b")
    results = []
    for name in ("d.npz", "d.csv"):
        js = tmp_path / f"{name}.json"
        assert main(["simulate", "--problem", "linear_regression", "--data", str(tmp_path / name),
                     "--batch-size", "3", "--steps", "5", "--paths", "500", "--json", str(js)]) == 0
        results.append(json.loads(js.read_text()))
    assert results[0]["problem"]["params"]["features"] == a.tolist()
    assert results[0]["observables"] == results[1]["observables"]


@pytest.mark.parametrize("argv,message", [
    (["--problem", "quadratic", "--sampling", "reshuffle"], "--sampling does not apply to problem 'quadratic'"),
    (["--problem", "quadratic", "--data", "x.npz"], "--data does not apply"),
    (["--problem", "linear_regression", "--data", "missing.npz"], "does not exist"),
    (["--method", "svag", "--l", "0"], "l must be a positive integer"),
    (["--lr", "-1"], "must be finite and > 0"),
])
def test_cli_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert main(["simulate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_demo_writes_its_picture_and_prints_numbers_against_exact_values(tmp_path, capsys):
    out = tmp_path / "gibbs.png"
    assert main(["demo", "stationary-gibbs", "--paths", "4000", "--seed", str(seed(1)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
    rows = [line.split() for line in printed.splitlines() if "SGD Var" in line]
    assert len(rows) == 4                                             # Var x₁, x₂ for anisotropic and isotropic Σ
    assert all(abs(float(row[-1])) < 5 for row in rows)              # z of SGD's variance against its exact value
    assert main(["demo", "histograms", "--paths", "0"]) == 2
    assert "paths must be a positive integer" in capsys.readouterr().err


def test_custom_problem_from_an_importable_module_matches_its_own_formulas():
    problem = custom("quartic", 2, sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
                     noise_factor=user_problem.noise_factor, loss=user_problem.loss,
                     init_state=user_problem.no_state, data=(0.5,), x0=[0.4, -0.2])
    assert problem.params["functions"]["sample_grad"] == "user_problem:sample_grad"
    x = np.array([0.4, -0.2])
    samples = problem.sample_grads(x, 20_000, seed=seed(0))
    se = samples.std(0, ddof=1) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(0) - problem.mean_grad(x)) <= 5 * se)
    r = simulate(problem, "sgd", lr=0.1, steps=1, paths=20_000, seed=seed(1), observables=["x"])
    exact = x - 0.1 * problem.mean_grad(x)
    assert np.all(np.abs(r.mean("x")[-1] - exact) <= 5 * r.stderr("x")[-1])
    rebuilt = from_record({"name": problem.name, "params": problem.params})
    again = simulate(rebuilt, "sgd", lr=0.1, steps=1, paths=20_000, seed=seed(1), observables=["x"])
    np.testing.assert_array_equal(again.mean("x"), r.mean("x"))


def test_custom_problem_with_lanes_mean_grad_moves_its_lanes_together_with_the_same_numbers():
    functions = dict(sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
                     noise_factor=user_problem.noise_factor, loss=user_problem.loss, data=(0.5,),
                     x0=[0.4, 0.7, 0.3], constant_noise=True)   # |x0|² depends on the order of its sum
    problem = custom("quartic", 3, lanes_mean_grad=user_problem.lanes_mean_grad, **functions)
    assert problem.params["functions"]["lanes_mean_grad"] == "user_problem:lanes_mean_grad"
    kw = dict(lr=0.1, l=2, steps=20, paths=100, seed=3, observables=["x", "loss"])
    together = simulate(problem, "sde", **kw)
    assert together.diverged == 0
    assert_identical_results(together, simulate(custom("quartic", 3, **functions), "sde", **kw))
    assert_identical_results(together, simulate(from_record({"name": problem.name, "params": problem.params}),
                                                "sde", **kw))
    with pytest.raises(ValueError, match=r"must give mean_grad's numbers bit for bit .* column 0"):
        custom("quartic", 3, lanes_mean_grad=user_problem.off_by_rounding, **functions)
    with pytest.raises(ValueError, match="lanes_mean_grad is used only with constant_noise=True"):
        custom("quartic", 3, lanes_mean_grad=user_problem.lanes_mean_grad, **{**functions, "constant_noise": False})


def test_custom_problem_defined_in_a_function_runs_uncached():
    @numba.njit
    def grad(x, data, out):
        out[:] = data[0] * x

    @numba.njit
    def sample(x, data, state, pstate, out):
        grad(x, data, out)
        out += sdesim.rng.normal(state)

    @numba.njit
    def factor(x, data, out):
        out[:, :] = np.eye(x.shape[0])

    @numba.njit
    def half_square(x, data):
        return 0.5 * data[0] * np.sum(x * x)

    problem = custom("local", 1, sample_grad=sample, mean_grad=grad, noise_factor=factor, loss=half_square,
                     data=(2.0,))
    assert problem.params["functions"]["sample_grad"] is None
    r = simulate(problem, "ngd", lr=0.1, steps=5, paths=20_000, seed=seed(0), observables=["norm2"])
    exact = sum(0.8 ** (2 * k) for k in range(5)) * 0.01  # Var after 5 steps of x ← 0.8x + 0.1z
    assert abs(r.mean("norm2")[-1] - exact) <= 5 * r.stderr("norm2")[-1]
    with pytest.raises(ValueError, match="cannot be imported by name"):
        from_record({"name": problem.name, "params": problem.params})


def test_custom_problem_errors():
    with pytest.raises(TypeError, match="must be a numba-compiled function"):
        custom("bad", 1, sample_grad=lambda *a: None, mean_grad=user_problem.mean_grad,
               noise_factor=user_problem.noise_factor, loss=user_problem.loss)

    @numba.njit
    def nan_loss(x, data):
        return np.nan

    with pytest.raises(ValueError, match="loss of problem 'nanny' returned a non-finite value"):
        custom("nanny", 1, sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
               noise_factor=user_problem.noise_factor, loss=nan_loss, data=(1.0,))


def test_user_observable_errors():
    @numba.njit
    def matrix(x):
        return np.ones((2, 2))

    with pytest.raises(ValueError, match="must return a number or a 1-d array"):
        simulate(QUAD, user_observables={"m": matrix})
    with pytest.raises(TypeError, match="must be a numba-compiled function of x"):
        simulate(QUAD, user_observables={"f": lambda x: 1.0})
