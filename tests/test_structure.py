"""Structure a problem declares (a diagonal Hessian and noise factor): faster paths, the dense numbers bit for bit.

The dense path is forced on the same problem with ``dataclasses.replace``: the dense functions
and no ``diagonal_noise``, which is exactly what a problem without declared structure runs.
"""

import dataclasses

import numpy as np
import pytest

from sdesim.problems import Problem, quadratic
from sdesim.problems.quadratic import DIAGONAL_FUNCTIONS, FUNCTIONS
from sdesim.simulate import simulate
from sdesim.testing import assert_identical_results

ALL_OBSERVABLES = ["x", "norm2", "loss", "grad_norm2", "noise_trace"]


def declared_quadratic():
    # an exact zero on A's diagonal, a noise covariance that is not I, weight decay and a batch
    return quadratic(4, hessian=np.diag([1.5, 0.0, 0.5, 2.0]), minimizer=[1.0, -2.0, 0.5, 0.0],
                     noise_cov=np.diag([1.0, 2.0, 0.25, 3.0]), batch_size=2, weight_decay=0.1)


def dense(problem):
    return dataclasses.replace(problem, functions=FUNCTIONS, diagonal_noise=False)


def test_quadratic_declares_structure_only_where_it_has_it():
    q = quadratic(10)
    assert q.functions is DIAGONAL_FUNCTIONS and q.diagonal_noise
    full_hessian = quadratic(3, hessian=[[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert full_hessian.functions is FUNCTIONS and full_hessian.diagonal_noise
    full_noise = quadratic(2, noise_cov=[[1.0, 0.3], [0.3, 0.5]])
    assert full_noise.functions is FUNCTIONS and not full_noise.diagonal_noise
    one = quadratic(1)   # one dimension has no structure to declare: the kernels of today
    assert one.functions is FUNCTIONS and not one.diagonal_noise


def test_diagonal_functions_equal_the_dense_ones_bit_for_bit():
    diagonal = declared_quadratic()
    full = dense(diagonal)
    for x in ([0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 0.5, 0.0], [-3.5, 1e-300, 7.0, -0.0], [1e150, -1e150, 2.0, 3.0]):
        assert np.array_equal(diagonal.mean_grad(x), full.mean_grad(x))
        assert np.array_equal(np.signbit(diagonal.mean_grad(x)), np.signbit(full.mean_grad(x)))
        assert diagonal.loss(x) == full.loss(x)
        assert np.array_equal(diagonal.sample_grads(x, 50, seed=3), full.sample_grads(x, 50, seed=3))


# The kernel's two ways of using the structure: the Gaussian step (sde, ngd: the diagonal noise product, the
# diagonal mean gradient) and the stochastic step (sgd, svag: the diagonal sample gradient).  The adaptive
# methods call the same problem functions (held equal to the dense ones bit for bit above) and do not read the
# flag; compiling their dense twins here added a minute to the cold suite.
@pytest.mark.parametrize("method,l", [("sde", 4), ("ngd", 1), ("sgd", 1), ("svag", 3)])
def test_declared_structure_gives_the_dense_numbers_bit_for_bit(method, l):
    diagonal = declared_quadratic()
    kw = dict(lr=0.1, l=l, steps=20, paths=400, seed=11, x0=[2.0, 1.0, -1.0, 0.5], observables=ALL_OBSERVABLES,
              checkpoints=[1, 7, 20], keep_paths=3)
    a, b = simulate(diagonal, method, **kw), simulate(dense(diagonal), method, **kw)
    assert_identical_results(a, b)
    assert np.array_equal(a.kept_paths, b.kept_paths)


def test_the_kernel_reads_only_the_diagonal_of_a_factor_declared_diagonal():
    # declared diagonal falsely, a full factor runs as its diagonal alone: the flag reaches the kernel
    full = quadratic(2, noise_cov=[[1.0, 0.6], [0.6, 2.0]])
    data = list(full.data)
    data[3] = np.diag(np.diag(full.data[3]))
    kw = dict(lr=0.1, l=2, steps=5, paths=200, seed=5, x0=[1.0, -1.0], observables=["x", "norm2"])
    claimed = simulate(dataclasses.replace(full, diagonal_noise=True), "sde", **kw)
    assert_identical_results(claimed, simulate(dataclasses.replace(full, data=tuple(data)), "sde", **kw))
    assert not np.array_equal(claimed.mean("x"), simulate(full, "sde", **kw).mean("x"))


def test_diagonal_noise_needs_a_square_factor():
    q = quadratic(2)
    with pytest.raises(ValueError, match="diagonal_noise needs a square noise factor.*noise_rank 1 and dim 2"):
        Problem(name="q", dim=2, data=q.data, functions=q.functions, params={}, noise_rank=1, diagonal_noise=True)
