"""Problems with elementwise functions (``sde(..., elementwise=True)``, ``custom(..., elementwise=True)``):
their SIMD lanes move together (`sdesim.kernels.elementwise`), with the numbers of the same problem
written without the declaration bit for bit, and a declaration the functions do not keep is refused
when the problem is built.

Kernels compiled here: the GBM of ``user_sde.py`` in both forms at d = 1 (lanes, moved together or one
by one) and d = 2 (lanes, or one path at a time), and the quartic custom problem of ``user_problem.py``
in both forms at d = 2, and the d = 1 GBM in both forms in float32.
"""

import json
import math

import numba
import numpy as np
import pytest

import user_problem
import user_sde
from sdesim.problems import custom, from_record, sde
from sdesim.result import to_jsonable
from sdesim.simulate import Run, simulate
from seeds import seed


def same_numbers(a, b):
    assert np.array_equal(a.kept_paths, b.kept_paths, equal_nan=True)
    for name in a.observables:
        for field in ("mean", "stderr"):
            assert np.array_equal(getattr(a.observables[name], field), getattr(b.observables[name], field)), name


@pytest.mark.parametrize("x0", [(1.0,), (1.0, 0.5)], ids=["d=1", "d=2"])
def test_elementwise_gbm_gives_the_matrix_forms_numbers_bit_for_bit(x0):
    """Same seed, every path kept at every step, four checkpoints, 1 and 2 threads; 37 paths (a lane group
    cut short) and block_size 16 (several blocks)."""
    runs = {}
    for elementwise in (True, False):
        problem = user_sde.gbm(x0, elementwise=elementwise)
        for threads in (1, 2):
            runs[elementwise, threads] = simulate(problem, "sde", dt=0.25, l=2, steps=4, paths=37, seed=seed(41),
                                                  keep_paths=37, keep_every=1, checkpoints=[1, 2, 3, 4],
                                                  observables=["x", "norm2", "noise_trace"], threads=threads,
                                                  block_size=16)
    first = runs[True, 1]
    assert np.all(np.isfinite(first.kept_paths))
    moves = {elementwise: Run(user_sde.gbm(x0, elementwise=elementwise), "sde", dt=0.25).module.move_lanes.py_func
             for elementwise in (True, False)}
    assert moves[True].__name__ == "gaussian_lanes_elementwise" and moves[False].__name__ == "gaussian_lanes_each"
    for other in runs.values():
        same_numbers(first, other)


def test_elementwise_gbm_in_float32_gives_the_matrix_forms_numbers_bit_for_bit():
    """dtype float32 at d = 1: the lanes moved together round every operation to float32 as the lanes moved one
    by one do (a float64 literal or buffer in the elementwise move would promote the step and change the bits)."""
    runs = [simulate(user_sde.gbm((1.0,), elementwise=elementwise), "sde", dt=0.25, l=2, steps=4, paths=37,
                     seed=seed(44), keep_paths=37, keep_every=1, observables=["x"], dtype="float32")
            for elementwise in (True, False)]
    same_numbers(*runs)
    wide = simulate(user_sde.gbm((1.0,)), "sde", dt=0.25, l=2, steps=4, paths=37, seed=seed(44), keep_paths=37,
                    keep_every=1, observables=["x"])
    gap = np.abs(runs[0].kept_paths - wide.kept_paths)
    assert 0 < gap.max() < 1e-5   # float32 rounding, not another path


def test_elementwise_gbm_moments_follow_the_euler_recursion():
    """E x ← (1 + hμ) E x and E x² ← ((1 + hμ)² + hσ²) E x², to 5 standard errors, at four checkpoints."""
    h, mu, sigma, x0 = 0.25, user_sde.MU, user_sde.SIGMA, 1.0
    result = simulate(user_sde.gbm((x0,)), "sde", dt=h, steps=4, paths=20_000, seed=seed(42),
                      observables=["x", "norm2"], checkpoints=[1, 2, 3, 4])
    n = np.arange(1, 5)
    exact = {"x": x0 * (1 + h * mu) ** n, "norm2": x0**2 * ((1 + h * mu) ** 2 + h * sigma**2) ** n}
    for name, values in exact.items():
        obs = result.observables[name]
        z = (obs.mean.ravel() - values) / obs.stderr.ravel()
        assert np.all(np.abs(z) < 5), (name, z)


def test_elementwise_custom_problem_gives_the_matrix_forms_numbers_bit_for_bit():
    """Euler on the SDE of the quartic with weight decay, d = 2: lanes moved together against one path at a time."""
    runs = []
    for elementwise in (True, False):
        problem = custom("quartic", 2, sample_grad=user_problem.quartic_sample_grad,
                         mean_grad=user_problem.quartic_mean_grad,
                         noise_factor=(user_problem.quartic_noise_diagonal if elementwise
                                       else user_problem.quartic_noise_factor),
                         loss=user_problem.quartic_loss, data=(0.7,), weight_decay=0.1, x0=[0.8, -0.3],
                         elementwise=elementwise)
        runs.append(simulate(problem, "sde", lr=0.2, l=2, steps=3, paths=40, seed=seed(43), keep_paths=40,
                             keep_every=1, observables=["x", "loss", "noise_trace"]))
    same_numbers(*runs)
    assert runs[0].observables["noise_trace"].mean[0] == pytest.approx(0.49 * (1.64 + 1.09))


def test_the_record_rebuilds_an_elementwise_problem_and_python_sees_the_matrix():
    problem = user_sde.gbm((1.0, 2.0))
    again = from_record(json.loads(json.dumps({"name": problem.name, "params": to_jsonable(problem.params)})))
    assert again.functions.elementwise and again.params["elementwise"] is True and again.noise_rank == 2
    assert again.functions.noise_factor is user_sde.gbm_diagonal
    np.testing.assert_array_equal(again.noise_sqrt([1.0, 3.0]), [[user_sde.SIGMA, 0.0], [0.0, 3 * user_sde.SIGMA]])
    np.testing.assert_array_equal(again.noise_sqrt([1.0, 3.0]), user_sde.gbm((1.0, 2.0), False).noise_sqrt([1.0, 3.0]))


# --- declarations the functions do not keep: refused when the problem is built ---------------------

@numba.njit
def drift_fixed_indices(x, data, out):    # writes coordinates 0 and 1 of a d = 2 problem, not every j
    out[0] = -x[0]
    out[1] = -x[1]


@numba.njit
def drift_per_coordinate(x, data, out):   # another formula for each j
    for j in range(x.shape[0]):
        out[j] = -(j + 1) * x[j]


@numba.njit
def drift_coupled(x, data, out):          # reads another coordinate: the same at 64 copies, not rotated
    for j in range(x.shape[0]):
        out[j] = -x[j] * x[0]


@numba.njit
def drift_summed(x, data, out):           # a sum over the coordinates
    total = 0.0
    for j in range(x.shape[0]):
        total += x[j]
    for j in range(x.shape[0]):
        out[j] = -total


@numba.njit
def drift_long(x, data, out):             # writes one entry past x
    for j in range(x.shape[0] + 1):
        out[j] = -1.0


@numba.njit
def diagonal_ones(x, data, out):
    for j in range(x.shape[0]):
        out[j] = 1.0


@numba.njit
def diffusion_matrix(x, data, out):       # the matrix form, where elementwise wants the diagonal
    out[0, 0] = 1.0


@pytest.mark.parametrize("dim,options,error,message", [
    (2, dict(drift=drift_fixed_indices), ValueError,
     r"drift of SDE 'bad' is declared elementwise but on 64 copies of x0 in the lanes' layout .* gives "
     r"out\[2\] = nan .* one formula for every j, for x of any length .* or leave elementwise out"),
    (2, dict(drift=drift_per_coordinate), ValueError, r"on 64 copies of x0 .* out\[1\] = -2.0 for x\[1\] = 1.0, "
     r"where at x0 the same coordinate value gives -1.0"),
    (2, dict(drift=drift_coupled), ValueError, r"on x0 with its coordinates rotated \(x = \[2.0, 1.0\]\) it gives "
     r"out\[0\] = -4.0"),
    (1, dict(drift=drift_summed), ValueError, r"drift of SDE 'bad' is declared elementwise but on 64 copies"),
    (1, dict(drift=drift_long), ValueError, r"wrote past the end of out at x0"),
    (1, dict(diffusion=diffusion_matrix), TypeError,
     r"diffusion of SDE 'bad' failed when called as diffusion\(x, data, out\) writing σ\(x\)'s diagonal, shape \(1,\)"),
    (2, dict(noise_dim=1), ValueError, r"noise_dim = 1 does not apply with elementwise=True: the diffusion is "
     r"diagonal, so W has dim = 2 components"),
    (1, dict(elementwise="yes"), TypeError, "elementwise must be True or False, got 'yes'"),
])
def test_sde_refuses_a_declaration_its_functions_do_not_keep(dim, options, error, message):
    arguments = {**dict(drift=user_sde.gbm_drift, diffusion=diagonal_ones, x0=[1.0, 2.0][:dim], data=(-1.0, 1.0),
                        elementwise=True), **options}
    with pytest.raises(error, match=message):
        sde("bad", dim, **arguments)


@pytest.mark.parametrize("options,message", [
    (dict(mean_grad=user_problem.mean_grad), r"mean_grad of problem 'bad' is declared elementwise but on 64 copies"),
    (dict(noise_rank=1), r"noise_rank = 1 does not apply with elementwise=True"),
    (dict(lanes_mean_grad=user_problem.lanes_mean_grad, constant_noise=True),
     "lanes_mean_grad is not used with elementwise=True"),
])
def test_custom_refuses_a_declaration_its_functions_do_not_keep(options, message):
    arguments = {**dict(sample_grad=user_problem.quartic_sample_grad, mean_grad=user_problem.quartic_mean_grad,
                        noise_factor=user_problem.quartic_noise_diagonal, loss=user_problem.quartic_loss,
                        data=(0.7,), x0=[0.8, -0.3], elementwise=True), **options}
    with pytest.raises(ValueError, match=message):
        custom("bad", 2, **arguments)
