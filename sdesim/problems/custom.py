"""Problems defined by the user from ``@numba.njit`` functions.

The functions have the signatures listed in `sdesim.problems.base`.  Defined
at the top level of an importable module, they are compiled into the kernels once
and cached on disk like the built-in problems; defined in ``__main__`` or a
notebook they still run at full speed, but compile again in every process.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from sdesim import rng
from sdesim._checks import finite_array, positive_float, positive_int, user_call
from sdesim._importable import function_path
from sdesim.problems.base import Problem, ProblemFunctions, no_state
from sdesim.problems.elementwise import check_elementwise
from sdesim.rng.lanes import LANES


def _check_compiled(role: str, fn) -> None:
    if not (callable(fn) and hasattr(fn, "py_func")):
        raise TypeError(f"{role} must be a numba-compiled function (decorate it with @numba.njit), got {fn!r}")


def custom(name: str, dim: int, *, sample_grad, mean_grad, noise_factor, loss, data: tuple = (),
           noise_rank: int | None = None, init_state=no_state, state_size: int = 0,
           weight_decay: float = 0.0, x0=None, constant_noise: bool = False, lanes_mean_grad=None,
           lr: float | None = None, elementwise: bool = False) -> Problem:
    """A problem from user-supplied compiled functions; checked once at ``x0`` (default 0).

    Declare ``lr``, the learning rate η the functions are written for, when η is baked into
    them (an SDE dX = b dt + s dW posed as SGD has Σ = s²/η): studies and simulations at
    another η then warn (`lr_mismatch`) instead of silently solving another SDE.

    Declare ``constant_noise=True`` when Σ(x) does not depend on x, so that Euler
    steps compute the noise factor once per path.  With it, an optional
    ``lanes_mean_grad(xs, data, out)`` (∇L of every column of xs, mean_grad's numbers
    bit for bit) lets ``ngd`` and ``sde`` move 64 paths at once.

    Declare ``elementwise=True`` when ∇L is elementwise and Σ diagonal: ``mean_grad`` writes
    out[j] = f(x[j]) with one formula for every j, and ``noise_factor`` writes the diagonal of D,
    out[j] = g(x[j]), shape (d,) (noise_rank d); ``ngd`` and ``sde`` then move 64 paths at once for any
    noise, with the numbers of the same problem written without it (D as a d × d matrix), bit for bit.
    """
    dim = positive_int("dim", dim)
    noise_rank = dim if noise_rank is None else positive_int("noise_rank", noise_rank)
    state_size = positive_int("state_size", state_size, allow_zero=True)
    weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
    lr = None if lr is None else positive_float("lr (the learning rate the problem's functions are written for)", lr)
    if not isinstance(elementwise, bool):
        raise TypeError(f"elementwise must be True or False, got {elementwise!r}")
    if elementwise and noise_rank != dim:
        raise ValueError(f"noise_rank = {noise_rank} does not apply with elementwise=True: the noise factor is "
                         f"diagonal, d × d with d = {dim}; leave noise_rank out")
    if elementwise and lanes_mean_grad is not None:
        raise ValueError("lanes_mean_grad is not used with elementwise=True (the elementwise mean_grad itself moves "
                         "the lanes); leave lanes_mean_grad out")
    if lanes_mean_grad is not None and not constant_noise:
        raise ValueError("lanes_mean_grad is used only with constant_noise=True (the paths moved together share "
                         "one noise factor); declare constant_noise=True if Σ(x) does not depend on x, "
                         "else leave lanes_mean_grad out")
    functions = ProblemFunctions(sample_grad, mean_grad, noise_factor, loss, init_state, lanes_mean_grad, elementwise)
    for role, fn in functions.items():
        _check_compiled(role, fn)
    if not isinstance(data, tuple):
        raise TypeError(f"data must be a tuple (of arrays and numbers), got {type(data).__name__}")
    paths = {role: function_path(fn) for role, fn in functions.items()}
    x0 = None if x0 is None else finite_array("x0", x0, shape=(dim,))
    params = dict(dim=dim, data=list(data), noise_rank=noise_rank, state_size=state_size,
                  weight_decay=weight_decay, x0=x0, constant_noise=bool(constant_noise), functions=paths, lr=lr,
                  elementwise=elementwise)
    problem = Problem(name=name, dim=dim, data=data, functions=functions, params=params,
                      noise_rank=noise_rank, weight_decay=weight_decay, state_size=state_size, default_x0=x0,
                      constant_noise=bool(constant_noise), diagonal_noise=elementwise)
    _smoke_test(problem)
    return problem


def lr_mismatch(problem: Problem, lr: float) -> str | None:
    """Why running ``problem`` at learning rate ``lr`` is not the SDE it was written for, or None.

    Only a problem that declares its η (``custom(lr=...)``) can tell; any other gives None.
    """
    declared = problem.params.get("lr") if isinstance(problem.params, dict) else None
    if declared is None or math.isclose(declared, lr, rel_tol=1e-12):
        return None
    return (f"problem {problem.name!r} is written for lr = {declared:g} (custom(lr=...)), and this runs at "
            f"lr = {lr:g}: where η is baked into its functions (Σ carrying 1/η), another η is another SDE; "
            f"run at lr = {declared:g} (--lr {declared:g})")


SIGNATURES = {
    "sample_grad": "sample_grad(x, data, rng, pstate, out)",
    "mean_grad": "mean_grad(x, data, out)",
    "noise_factor": "noise_factor(x, data, out)",
    "noise_diagonal": "noise_factor(x, data, out) writing D's diagonal (elementwise=True)",
    "loss": "loss(x, data)",
    "init_state": "init_state(data, rng, pstate)",
    "lanes_mean_grad": "lanes_mean_grad(xs, data, out)",
}


def _smoke_test(problem: Problem) -> None:
    """Call every function once at the start point, each ``out`` filled with NaN first.

    Each must run with its signature and give finite values in every entry of ``out`` (an
    entry it never writes stays NaN), and ``loss`` a number; otherwise the error names it.
    """
    x = problem.start_point()
    f, data, name = problem.functions, problem.data, problem.name

    def call(role, fn, *args):
        return user_call(f"{role} of problem {name!r}", f"{SIGNATURES[role]} at x0 = {x}", fn, *args)

    state = np.empty(4, dtype=np.uint64)
    rng.seed_path(rng.stream_key(0), 0, state)
    call("init_state", f.init_state, data, state, np.zeros(max(problem.state_size, 1), dtype=np.int64))
    mean_grad = np.full(problem.dim, np.nan)
    call("mean_grad", f.mean_grad, x, data, mean_grad)
    noise = np.full(problem.dim if f.elementwise else (problem.dim, problem.noise_rank), np.nan)
    user_call(f"noise_factor of problem {name!r}",
              f"{SIGNATURES['noise_diagonal' if f.elementwise else 'noise_factor']} at x0 = {x}", f.noise_factor,
              x, data, noise)
    loss = call("loss", f.loss, x, data)
    if not isinstance(loss, numbers.Real):
        got = f"an array of shape {np.shape(loss)}" if np.ndim(loss) else type(loss).__name__
        raise TypeError(f"loss of problem {name!r} must return a number L(x), got {got} at x0 = {x}")
    draws = call("sample_grad", problem.sample_grads, x, 2)   # out filled with NaN, as above
    outputs = [("mean_grad", mean_grad), ("noise_factor", noise), ("loss", np.array(loss, dtype=np.float64)),
               *(("sample_grad", draw) for draw in draws)]
    for role, value in outputs:
        if np.all(np.isfinite(value)):
            continue
        if role == "loss":
            raise ValueError(f"loss of problem {name!r} returned a non-finite value at x0 = {x}: {value}")
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        entry = value[index]
        hint = (" (out is filled with NaN before the call, so an entry it never wrote shows as NaN: it must write "
                f"every entry of out, shape {value.shape}, zeros included)" if np.isnan(entry) else "")
        raise ValueError(f"{role} of problem {name!r} returned a non-finite value at x0 = {x}: "
                         f"out[{', '.join(map(str, index))}] = {entry}{hint}")
    if f.lanes_mean_grad is not None:
        _check_lanes_mean_grad(call, f.lanes_mean_grad, x, data, mean_grad, name)
    if f.elementwise:
        for role, values in (("mean_grad", mean_grad), ("noise_factor", noise)):
            check_elementwise(role, getattr(f, role), x, data, values, f"problem {name!r}", SIGNATURES[role])


def _check_lanes_mean_grad(call, lanes_mean_grad, x, data, mean_grad, name) -> None:
    """``lanes_mean_grad`` on LANES copies of x0 (d × LANES, out filled with NaN first) must give
    ``mean_grad``'s numbers in every column, bit for bit: the kernels use one for the other."""
    xs = np.ascontiguousarray(np.repeat(x[:, None], LANES, axis=1))
    out = np.full_like(xs, np.nan)
    call("lanes_mean_grad", lanes_mean_grad, xs, data, out)
    for lane in range(LANES):
        if not np.array_equal(out[:, lane], mean_grad):
            raise ValueError(f"lanes_mean_grad of problem {name!r} must give mean_grad's numbers bit for bit in "
                             f"every column of out (d × {LANES}); at x0 = {x} column {lane} is "
                             f"{out[:, lane].tolist()}, mean_grad gives {mean_grad.tolist()}")
