"""Whether a problem's compiled functions (and user observables) run on the kernel's floating-point type.

numba compiles a function once per set of argument types, so a float32 kernel calls every problem
function on float32 x, out and data: one written for float64 only (an explicit float64 signature,
an ``out`` it views as float64, ...) would fail inside the compiled kernel.  `check_functions_take`
calls each once at the start point with the arguments of that type, before any work, and names the
one that fails.
"""

from __future__ import annotations

import numpy as np

from sdesim import rng
from sdesim._checks import user_call
from sdesim.kernels.precision import DEFAULT_DTYPE, as_dtype
from sdesim.rng.lanes import LANES


def check_functions_take(problem, x0: np.ndarray, user_observables: dict, dtype: str) -> None:
    """Call the problem's functions (drift and diffusion for an SDE in its own terms) and the user
    observables once at x0 on ``dtype`` arguments; a failure is an error naming the function and the dtype."""
    if dtype == DEFAULT_DTYPE:
        return   # the problem's own check (custom, sde) called them in float64 already
    f, d, kind = problem.functions, problem.dim, np.dtype(dtype).type
    data, x = as_dtype(problem.data, dtype), as_dtype(np.asarray(x0, dtype=np.float64), dtype)
    roles = {"mean_grad": "drift", "noise_factor": "diffusion"} if problem.sde_terms else {}

    def call(role, signature, fn, *args):
        what = f"{roles.get(role, role)} of problem {problem.name!r} with dtype={dtype!r}"
        return user_call(what, f"{signature} on {dtype} arrays at x0 = {x0} (dtype={dtype!r} compiles it for "
                                f"{dtype} x, out and data; write it for any float type)", fn, *args)

    call("mean_grad", "mean_grad(x, data, out)", f.mean_grad, x.copy(), data, np.zeros(d, kind))
    call("noise_factor", "noise_factor(x, data, out)", f.noise_factor, x.copy(), data,
         np.zeros((d, problem.noise_rank), kind))
    if not problem.sde_terms:
        state = np.empty(4, dtype=np.uint64)
        rng.seed_path(rng.stream_key(0), 0, state)
        pstate = np.zeros(max(problem.state_size, 1), dtype=np.int64)
        call("init_state", "init_state(data, rng, pstate)", f.init_state, data, state, pstate)
        call("sample_grad", "sample_grad(x, data, rng, pstate, out)", f.sample_grad, x.copy(), data, state, pstate,
             np.zeros(d, kind))
        call("loss", "loss(x, data)", f.loss, x.copy(), data)
        if f.lanes_mean_grad is not None:
            xs = np.repeat(x[:, None], LANES, axis=1)
            call("lanes_mean_grad", "lanes_mean_grad(xs, data, out)", f.lanes_mean_grad, xs, data,
                 np.zeros_like(xs))
    for name, fn in user_observables.items():
        user_call(f"user observable {name!r} with dtype={dtype!r}",
                  f"f(x) on a {dtype} x = {x} (dtype={dtype!r} compiles it for {dtype} x)", fn, x.copy())
