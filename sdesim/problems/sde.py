"""An Itô SDE in its own terms: dX = b(X) dt + σ(X) dW, from two ``@numba.njit`` functions.

- ``drift(x, data, out)``: write b(x), shape (d,), into ``out``;
- ``diffusion(x, data, out)``: write σ(x), shape (d, m), into ``out`` (m = ``noise_dim``, default d).

With ``elementwise=True`` the drift writes out[j] = b(x[j]) with one formula for every coordinate j and the
diffusion is diagonal, written as its diagonal out[j] = σ(x[j]), shape (d,) (m = d): the kernels then move
64 paths at once in SIMD lanes for any diffusion (`sdesim.kernels.elementwise`), with the numbers of the
same SDE written without it, bit for bit.

No learning rate, loss or stochastic gradient: the problem declares ``sde_terms``, and the one
method that runs on it is Euler–Maruyama with step h, x ← x + h b(x) + √h σ(x) z
(`sdesim.methods.own_terms_plan`).  It binds b where the SGD problems bind ∇L and σ where they
bind the noise factor, so the kernels, the studies and the disk cache are the SGD problems' own.
"""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import finite_array, positive_int, user_call
from sdesim._importable import function_path
from sdesim._jit import jit
from sdesim.problems.base import Problem, ProblemFunctions, no_state
from sdesim.problems.elementwise import check_elementwise


@jit
def no_sample_grad(x, data, rng, pstate, out):
    """An SDE in its own terms has no stochastic gradient (the methods that sample one are refused)."""
    for j in range(out.shape[0]):
        out[j] = math.nan


@jit
def no_loss(x, data):
    """An SDE in its own terms has no loss (the observable ``loss`` is refused)."""
    return math.nan


SIGNATURES = {"drift": "drift(x, data, out) writing b(x), shape ({d},)",
              "diffusion": "diffusion(x, data, out) writing σ(x), shape ({d}, {m})",
              "diagonal": "diffusion(x, data, out) writing σ(x)'s diagonal, shape ({d},)"}


def sde(name: str, dim: int, *, drift, diffusion, x0, data: tuple = (), noise_dim: int | None = None,
        elementwise: bool = False) -> Problem:
    """The Itô SDE dX = b(X) dt + σ(X) dW on R^dim, W an m-dimensional Brownian motion, started at ``x0``.

    ``drift`` and ``diffusion`` are ``@numba.njit`` functions (see the module docstring); defined at the
    top level of an importable module, the record names them ``module:name`` and the kernels are
    cached on disk.  Both are called once at ``x0`` here, their ``out`` filled with NaN and followed by
    NaN padding: each must write every entry of its shape, finite, and nothing past it.  With
    ``elementwise`` both are also called on 64 copies of x0 laid out as the lanes hold them and, for
    d > 1, on x0 with its coordinates rotated: each must give its numbers at x0, coordinate by coordinate.
    """
    dim = positive_int("dim", dim)
    if not isinstance(elementwise, bool):
        raise TypeError(f"elementwise must be True or False, got {elementwise!r}")
    if elementwise and noise_dim not in (None, dim):
        raise ValueError(f"noise_dim = {noise_dim} does not apply with elementwise=True: the diffusion is diagonal, "
                         f"so W has dim = {dim} components; leave noise_dim out")
    noise_dim = dim if noise_dim is None else positive_int("noise_dim (the dimension m of W)", noise_dim)
    for role, fn in (("drift", drift), ("diffusion", diffusion)):
        if not (callable(fn) and hasattr(fn, "py_func")):
            raise TypeError(f"{role} must be a numba-compiled function {role}(x, data, out) (decorate it with "
                            f"@numba.njit), got {fn!r}")
    if not isinstance(data, tuple):
        raise TypeError(f"data must be a tuple (of arrays and numbers), got {type(data).__name__}")
    x0 = finite_array("x0", np.atleast_1d(x0), shape=(dim,))
    at_x0 = _smoke_test(name, dim, noise_dim, drift, diffusion, data, x0, elementwise)
    if elementwise:
        for role, fn, values in (("drift", drift, at_x0[0]), ("diffusion", diffusion, at_x0[1])):
            check_elementwise(role, fn, x0, data, values, f"SDE {name!r}", f"{role}(x, data, out)")
    functions = ProblemFunctions(sample_grad=no_sample_grad, mean_grad=drift, noise_factor=diffusion, loss=no_loss,
                                 init_state=no_state, elementwise=elementwise)
    params = dict(dim=dim, data=list(data), noise_dim=noise_dim, x0=x0, elementwise=elementwise,
                  functions={"drift": function_path(drift), "diffusion": function_path(diffusion)})
    return Problem(name=name, dim=dim, data=data, functions=functions, params=params, noise_rank=noise_dim,
                   default_x0=x0, sde_terms=True, diagonal_noise=elementwise)


def _smoke_test(name, dim, noise_dim, drift, diffusion, data, x0, elementwise) -> tuple:
    """Call drift and diffusion at x0 on NaN-filled ``out``s with NaN padding after them (a C-contiguous
    prefix of a longer buffer): an entry left NaN was never written, a padding entry written lies past
    the shape (an index out of range, which compiled code does not check).  Returns the two ``out``s."""
    outs = []
    for role, shape, fn in (("drift", (dim,), drift),
                            ("diffusion", (dim,) if elementwise else (dim, noise_dim), diffusion)):
        size = math.prod(shape)
        buffer = np.full(2 * size + 1, np.nan)
        out = buffer[:size].reshape(shape)
        outs.append(out)
        signature = SIGNATURES["diagonal" if elementwise and role == "diffusion" else role].format(d=dim, m=noise_dim)
        user_call(f"{role} of SDE {name!r}", f"{signature} at x0 = {x0}", fn, x0.copy(), data, out)
        if not np.all(np.isnan(buffer[size:])):
            raise ValueError(f"{role} of SDE {name!r} wrote past the end of out at x0 = {x0}: out has shape {shape} "
                             f"(dim = {dim}{', noise_dim = ' + str(noise_dim) if role == 'diffusion' else ''}); "
                             "write exactly that shape")
        if np.all(np.isfinite(out)):
            continue
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        entry = out[index]
        hint = (f" (out is filled with NaN before the call, so an entry it never wrote shows as NaN: it must write "
                f"every entry of out, shape {shape}, zeros included)" if np.isnan(entry) else "")
        raise ValueError(f"{role} of SDE {name!r} returned a non-finite value at x0 = {x0}: "
                         f"out[{', '.join(map(str, index))}] = {entry}{hint}")
    return tuple(outs)
