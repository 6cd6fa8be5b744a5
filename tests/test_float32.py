"""float32 kernels (`simulate(..., dtype="float32")`): float32 arithmetic, rounding bounds, exact moments.

All runs use the 1-D quadratic (an Ornstein–Uhlenbeck process under Euler), so the float32 kernels
compiled here are few: the Gaussian lanes kernel (sde, ngd, exact) and the SGD one (sgd, svag).
u = 2⁻²⁴ is float32's unit roundoff; the bounds are derived in sdesim.estimators.float32_rounding.
"""

import json
import numba
import numpy as np
import pytest

from naive import Stream, ref_stream_key
from naive_normal_v2 import StreamV2
from seeds import seed
from sdesim import simulate
from sdesim.cli import main
from sdesim.estimators.float32_rounding import rounding_bound
from sdesim.estimators.weak_error import weak_error_study
from sdesim.kernels.precision import as_dtype
from sdesim.kernels.stats import BlockStats
from sdesim.problems import custom, linear_regression, quadratic
from sdesim.result import Result
from sdesim.simulate import Run

U32 = 2.0 ** -24
LR, L = 0.1, 2
F32 = np.float32


def ou(noise_cov=0.8, minimizer=0.5):
    return quadratic(1, hessian=[[1.5]], minimizer=[minimizer], noise_cov=[[noise_cov]], batch_size=2)


def kept(dtype, paths=5, steps=20, seed_=3, method="sde", **kw):
    result = simulate(ou(), method, lr=LR, l=L, steps=steps, paths=paths, seed=seed_, x0=[2.0], keep_paths=paths,
                      keep_every=1, observables=["x"], dtype=dtype, **kw)
    return result.kept_paths[:, :, 0]


@pytest.mark.parametrize("version", [1, 2])
def test_float32_euler_is_float32_arithmetic_bit_for_bit(version):
    """Each step's operations round to float32 (not float64 rounded once): the kernel equals a NumPy
    float32 recursion x ← x + (s·(0 + D z) − h·(0 + a(x − x*))) on the stream's normals: version 1's
    float64 normals rounded to float32, version 2's float32 normals (two from each output)."""
    problem, seed_ = ou(), 3
    run = Run(problem, "sde", lr=LR, l=L, steps=20, x0=[2.0], dtype="float32")
    p = as_dtype(run.plan.step_params(problem.weight_decay, problem.diagonal_noise), "float32")
    a, x_star, d = (F32(problem.data[0][0, 0]), F32(problem.data[1][0]), F32(problem.data[3][0, 0]))
    got = kept("float32", paths=17 if version == 2 else 5, seed_=seed_, stream_version=version)
    key = ref_stream_key(seed_)
    for path in range(got.shape[0]):
        stream, x = (Stream if version == 1 else StreamV2)(key, path), F32(2.0)
        for k in range(1, got.shape[1]):
            z = F32(stream.normal()) if version == 1 else stream.normal32_v2()
            g = F32(0.0) + a * (x - x_star)
            x = x + (p.noise_scale * (F32(0.0) + d * z) - p.h * (g + p.weight_decay * x))
            assert got[path, k] == float(x), (path, k)


def test_float32_and_float64_paths_differ_by_at_most_the_rounding_bound():
    """One seed, one stream: |x̂₃₂ − x₆₄| after k steps is below B_k, B₀ = u|x₀|,
    B_{k+1} = |1 − ha| B_k + 4u(|x_k| + |x_{k+1}| + |Δ_k| + 2h a|x_k − x*|), Δ_k = x_{k+1} − x_k
    (sdesim.estimators.float32_rounding: each step's terms rounded, |s D z| ≤ |Δ| + h a|x − x*|)."""
    x32, x64 = kept("float32", paths=16, steps=60), kept("float64", paths=16, steps=60)
    h, a, x_star = LR / L, 1.5, 0.5
    bound = np.full(x64.shape[0], U32 * 2.0)
    ratios = []
    for k in range(x64.shape[1] - 1):
        step = np.abs(x64[:, k + 1] - x64[:, k])
        local = np.abs(x64[:, k]) + np.abs(x64[:, k + 1]) + step + 2 * h * a * np.abs(x64[:, k] - x_star)
        bound = abs(1 - h * a) * bound + 4 * U32 * local + 1e-15
        gap = np.abs(x32[:, k + 1] - x64[:, k + 1])
        assert np.all(gap <= bound), (k, gap.max(), bound.min())
        ratios.append((gap / bound).max())
    assert 0 < max(ratios) < 1   # the paths do differ, by rounding, and the bound is not vacuous by orders
    assert max(ratios) > 1e-3


@pytest.mark.parametrize("version", [1, 2])
def test_float32_euler_moments_match_the_discrete_recursion(version):
    """E x_k and E x_k² against the exact Euler recursion m ← (1−ha)m + ha x*, v ← (1−ha)²v + s²D²,
    within 5 standard errors plus the rounding bound r = 4·p·K·u·|E g|, for both stream versions."""
    problem, steps, n = ou(), 40, 20_000
    checkpoints = [10, 20, 40]
    result = simulate(problem, "sde", lr=LR, l=L, steps=steps, paths=n, seed=seed(11), x0=[2.0],
                      checkpoints=checkpoints, observables=["x", "norm2"], dtype="float32", stream_version=version)
    assert result.dtype == "float32"
    h, a, x_star = LR / L, 1.5, 0.5
    noise = problem.data[3][0, 0] ** 2 * h * LR
    mean, var, exact = 2.0, 0.0, {}
    for k in range(1, steps * L + 1):
        mean, var = (1 - h * a) * mean + h * a * x_star, (1 - h * a) ** 2 * var + noise
        exact[k] = (mean, var + mean * mean)
    for i, c in enumerate(checkpoints):
        m, second = exact[c * L]
        for name, value, degree in (("x", m, 1), ("norm2", second, 2)):
            got, se = np.ravel(result.mean(name))[i], np.ravel(result.stderr(name))[i]
            tol = 5 * se + rounding_bound("float32", c * L, degree, value)
            assert abs(got - value) <= tol, (name, c, got, value, tol)


@pytest.mark.parametrize("method, kw", [("sgd", {}), ("svag", {"l": 2}), ("ngd", {}),
                                        ("sde", {"scheme": "exact", "l": 2})], ids=["sgd", "svag", "ngd", "exact"])
def test_every_method_runs_in_float32_close_to_float64(method, kw):
    """The same paths in float32 and float64 (one seed): means within the rounding bound 4·K·u·max|x|
    of each other (|x| ≤ 4 on these paths), far below their standard error."""
    args = dict(lr=LR, steps=30, paths=2048, seed=5, x0=[2.0], observables=["x"], **kw)
    r32, r64 = simulate(ou(), method, dtype="float32", **args), simulate(ou(), method, **args)
    small = 30 * kw.get("l", 1)
    assert r32.dtype == "float32" and r64.dtype == "float64"
    gap = np.abs(r32.mean("x") - r64.mean("x")).max()
    assert 0 < gap <= rounding_bound("float32", small, 1, 4.0)


def test_float32_gradient_descent_stagnates_where_the_bound_says():
    """Without noise, Euler towards x* = 1 from 2 stops where h·a·(x − 1) falls below half an ulp of x
    (2⁻²⁴ for x in [1, 2)): at x − 1 ≤ 2⁻²⁴/(h a) = 2⁻²⁴·l/(η a), growing like l, while the discretization
    error of E x at T = 10, (1 − h)^K − e^{−T} ≈ T h e^{−T}/2, shrinks like 1/l.  They cross at
    l* = √(T e^{−T} η² / (2·2⁻²⁴)) ≈ 6 (docs/guide/float32.md): at l = 2 float32 is the discretization error
    give or take the stall bound; at l = 1000 (10⁵ steps) it is the stall, 6·10⁻⁴, against 4.5·10⁻⁵."""
    problem = quadratic(1, hessian=[[1.0]], minimizer=[1.0], noise_cov=[[0.0]])
    time_ = 10.0
    crossing = np.sqrt(time_ * np.exp(-time_) * LR ** 2 / (2 * U32))
    assert 5 < crossing < 8
    for l in (2, 1000):
        args = dict(lr=LR, l=l, steps=100, paths=16, x0=[2.0], observables=["x"])
        r32, r64 = (simulate(problem, "sde", dtype=dtype, **args) for dtype in ("float32", "float64"))
        h = LR / l
        stall, exact = U32 / h, np.exp(-time_)
        gap32, gap64 = r32.mean("x")[-1, 0] - 1.0, r64.mean("x")[-1, 0] - 1.0
        assert gap64 == pytest.approx((1 - h) ** (100 * l), rel=1e-9)
        discretization = abs(gap64 - exact)
        if l < crossing:   # rounding is below the discretization error: float32 sees the same error
            # each step rounds x + Δ by at most 2⁻²⁴ (x in [1, 2); x − 1 is exact), contracted by 1 − h: Σ ≤ 2⁻²⁴/h,
            # plus the product h·(x − 1)'s rounding, u·h|x − 1| a step (5% covers it)
            assert stall < discretization and abs(gap32 - gap64) <= 1.05 * stall
        else:              # float32 has stalled: its error is rounding, far above the discretization error
            assert stall * (1 - 2 * h) - 2 ** -23 <= gap32 <= stall and gap32 - exact > 10 * discretization


def test_study_warns_when_its_precision_is_below_float32_rounding():
    """A float32 study whose standard errors are below the rounding bound r(l) warns, row by row;
    the same study with Monte Carlo noise far above r(l) (and any float64 study) is silent."""
    quiet, noisy = ou(noise_cov=1e-14), ou(noise_cov=0.8)
    args = dict(lr=LR, time=1.0, tests=("norm2",), l_values=(1, 2, 4), method="svag", paths=256,
                control_variates=False, seed=2, x0=[2.0])
    warned = weak_error_study(quiet, dtype="float32", **args)
    assert warned.dtype == "float32" and warned.to_dict()["dtype"] == "float32"
    rounding = [w for w in warned.warnings if "float32 rounding" in w]
    assert len(rounding) == 3 and "l = 4" in rounding[-1]
    silent = weak_error_study(noisy, dtype="float32", **args)
    assert not [w for w in silent.warnings if "float32 rounding" in w]
    assert not [w for w in weak_error_study(quiet, **args).warnings if "float32 rounding" in w]


@numba.njit("void(float64[::1], Tuple(()), float64[::1])")
def float64_only_grad(x, data, out):
    out[0] = x[0]


@numba.njit
def any_noise(x, data, out):
    out[0, 0] = 1.0


@numba.njit
def any_sample_grad(x, data, rng, pstate, out):
    out[0] = x[0]


@numba.njit
def any_loss(x, data):
    return 0.5 * x[0] * x[0]


def test_a_user_function_that_takes_float64_only_is_named_before_any_work():
    problem = custom("float64 only", 1, sample_grad=any_sample_grad, mean_grad=float64_only_grad,
                     noise_factor=any_noise, loss=any_loss, x0=[1.0])
    with pytest.raises(TypeError, match="mean_grad of problem 'float64 only' with dtype='float32'.*float32"):
        Run(problem, "sde", lr=0.1, dtype="float32")


@pytest.mark.parametrize("dtype", ["float16", "double", 32, None])
def test_bad_dtype_is_refused(dtype):
    with pytest.raises(ValueError, match="dtype must be one of 'float64', 'float32'"):
        simulate(ou(), "sde", dtype=dtype)


@pytest.mark.parametrize("method", ["adam", "rmsprop_sde"])
def test_adaptive_methods_are_refused_in_float32(method):
    with pytest.raises(ValueError, match=f"method '{method}' runs in float64 only"):
        simulate(ou(), method, dtype="float32")


def test_exact_study_refuses_float32():
    with pytest.raises(ValueError, match="exact=True draws none"):
        weak_error_study(ou(), exact=True, dtype="float32")


def test_blocks_of_two_dtypes_do_not_merge():
    parts = [BlockStats.empty(1, 2, 1, dtype=d) for d in ("float32", "float64")]
    assert BlockStats.concatenate(parts[:1]).dtype == "float32"
    with pytest.raises(ValueError, match="float32 and float64"):
        BlockStats.concatenate(parts)


def test_dtype_in_the_record_and_float64_without_it():
    record = Result(problem={"name": "q", "params": {}}, method="sde", lr=0.1, l=1, steps=1, paths=2, seed=0,
                    times=np.array([0.0]), observables={}, counts=np.array([2]), dtype="float32").to_dict()
    assert record["dtype"] == "float32" and Result.from_dict(json.loads(json.dumps(record))).dtype == "float32"
    del record["dtype"]
    assert Result.from_dict(record).dtype == "float64"


def test_cli_dtype(tmp_path, capsys):
    out = tmp_path / "r.json"
    base = ["simulate", "--problem", "quadratic", "--dim", "1", "--method", "sde", "--paths", "64", "--steps", "5",
            "--observables", "x"]
    assert main([*base, "--dtype", "float32", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["dtype"] == "float32"
    with pytest.raises(SystemExit) as stop:
        main([*base, "--dtype", "float16"])
    assert stop.value.code == 2 and "--dtype" in capsys.readouterr().err


@pytest.mark.parametrize("flag, recorded", [([], "float32"), (["--dtype", "float32"], None)])
def test_rerun_refuses_a_record_whose_dtype_is_not_its_commands(flag, recorded, tmp_path, capsys):
    """rerun runs the dtype the recorded command names (float64 without --dtype); a record saying another
    (or, with --dtype float32, one without dtype, which means float64) is refused before any work."""
    command = ["sdesim", "converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--plot", "none",
               *flag]
    record = weak_error_study(linear_regression(), exact=True, tests=["norm2"], l_values=[1, 2, 4, 8]).to_dict()
    record["command"] = command
    if recorded is None:
        del record["dtype"]
    else:
        record["dtype"] = recorded
    path = tmp_path / "study.json"
    path.write_text(json.dumps(record))
    assert main(["rerun", str(path)]) == 2
    assert "its record says dtype" in capsys.readouterr().err
