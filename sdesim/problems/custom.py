"""Problems defined by the user from ``@numba.njit`` functions.

The functions have the signatures listed in `sdesim.problems.base`.  Defined
at the top level of an importable module, they are compiled into the kernels once
and cached on disk like the built-in problems; defined in ``__main__`` or a
notebook they still run at full speed, but compile again in every process.
"""

from __future__ import annotations

import numpy as np

from sdesim._checks import finite_array, positive_float, positive_int
from sdesim._importable import function_path
from sdesim.problems.base import Problem, ProblemFunctions, no_state


def _check_compiled(role: str, fn) -> None:
    if not (callable(fn) and hasattr(fn, "py_func")):
        raise TypeError(f"{role} must be a numba-compiled function (decorate it with @numba.njit), got {fn!r}")


def custom(name: str, dim: int, *, sample_grad, mean_grad, noise_factor, loss, data: tuple = (),
           noise_rank: int | None = None, init_state=no_state, state_size: int = 0,
           weight_decay: float = 0.0, x0=None, constant_noise: bool = False) -> Problem:
    """A problem from user-supplied compiled functions; checked once at ``x0`` (default 0).

    Declare ``constant_noise=True`` when Σ(x) does not depend on x, so that Euler
    steps compute the noise factor once per path.
    """
    dim = positive_int("dim", dim)
    noise_rank = dim if noise_rank is None else positive_int("noise_rank", noise_rank)
    state_size = positive_int("state_size", state_size, allow_zero=True)
    weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
    functions = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss, init_state)
    for role, fn in functions.items():
        _check_compiled(role, fn)
    if not isinstance(data, tuple):
        raise TypeError(f"data must be a tuple (of arrays and numbers), got {type(data).__name__}")
    paths = {role: function_path(fn) for role, fn in functions.items()}
    x0 = None if x0 is None else finite_array("x0", x0, shape=(dim,))
    params = dict(dim=dim, data=list(data), noise_rank=noise_rank, state_size=state_size,
                  weight_decay=weight_decay, x0=x0, constant_noise=bool(constant_noise), functions=paths)
    problem = Problem(name=name, dim=dim, data=data, functions=functions, params=params,
                      noise_rank=noise_rank, weight_decay=weight_decay, state_size=state_size, default_x0=x0,
                      constant_noise=bool(constant_noise))
    _smoke_test(problem)
    return problem


def _smoke_test(problem: Problem) -> None:
    """Evaluate every function once at the start point: finite values or a clear error."""
    x = problem.start_point()
    checks = {
        "mean_grad": problem.mean_grad(x),
        "noise_factor": problem.noise_sqrt(x),
        "loss": np.array([problem.loss(x)]),
        "sample_grad": problem.sample_grads(x, 2),
    }
    for role, value in checks.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{role} of problem {problem.name!r} returned a non-finite value at x0 = {x}")
