"""Throughput of the sdesim normal sampler, and of a bare Euler-Maruyama OU kernel.

Prints draws per second of

* ``sdesim.rng.normal`` in a ``prange`` loop (one stream per index),
* ``sdesim.rng.lanes.normal_lanes`` in the same loop, LANES (64) streams at once in SIMD lanes (the same numbers),
* stream version 2's lane samplers in the same loop: ``normal_lanes_v2`` (float64) and
  ``normal32_lanes_v2`` (float32, two normals per 64-bit output: a call returns the one held from the
  last output, or the first of a new output's two; `sdesim.rng.normal_v2`),
* numba's built-in ``np.random.standard_normal`` in the same kind of loop,
* NumPy's ``np.random.default_rng().standard_normal(N)`` (one thread),

with ratios, and path-steps per second of :func:`bare_ou_kernel`, the
Euler-Maruyama scheme for dX = -X dt + dW with nothing but the arithmetic and
the random draws (the floor that the library's kernels are compared with), and of
:func:`bare_ou_lanes_kernel`, the same numbers LANES (64) paths at a time (and 16 at a time, the width
before), with stream version 1's and 2's samplers (and version 2's float32 one, x in float32).

Run:  PYTHONPATH=. python benchmarks/bench_rng.py
"""

import math
import time

import numba
import numpy as np
from numba import prange

from sdesim._jit import parallel_jit
from sdesim.rng import normal, seed_path, stream_key
from sdesim.rng.lanes import LANES, normal_lanes, store_lane
from sdesim.rng.normal_v2 import normal32_lanes_v2, normal_lanes_v2
from sdesim.rng.xoshiro import STATE_WORDS

N_DRAWS = 20_000_000
N_STREAMS = 2_048  # streams (prange indices) in the draw benchmarks: a multiple of every lane width
OU_PATHS = 102_400  # a multiple of every lane width timed (16 and LANES = 64), so every path runs
OU_STEPS = 1_000
OU_DT = 1e-3


@parallel_jit
def fill_normal_streams(key, out):
    """out is (streams, per_stream): row i is drawn from the stream of path i."""
    n_streams, per_stream = out.shape
    for i in prange(n_streams):
        state = np.empty(4, np.uint64)
        seed_path(key, i, state)
        for k in range(per_stream):
            out[i, k] = normal(state)


@parallel_jit
def fill_numba_normal(out):
    """Same loop with numba's built-in generator (per-thread internal state)."""
    n_streams, per_stream = out.shape
    for i in prange(n_streams):
        for k in range(per_stream):
            out[i, k] = np.random.standard_normal()


@parallel_jit
def bare_ou_kernel(key, x0, dt, steps, out):
    """Euler-Maruyama for dX = -X dt + dW on out.size paths; out[p] = X_T of path p.

    Each path p draws from its own stream ``seed_path(key, p, .)``, so the
    result does not depend on the number of threads.
    """
    sqdt = math.sqrt(dt)
    for p in prange(out.size):
        state = np.empty(4, np.uint64)
        seed_path(key, p, state)
        x = x0
        for _ in range(steps):
            x += -x * dt + sqdt * normal(state)
        out[p] = x


def lanes_kernels(sampler, dtype, rows, width=LANES):
    """(fill, ou): `fill_normal_lanes` and `bare_ou_lanes_kernel` with another lane sampler, one that writes
    ``rows`` rows of ``dtype`` draws a call (x and the step in ``dtype``), ``width`` paths at a time (the
    engine's LANES by default).  Compiled anew in each process
    (numba's disk cache would mix up closures of one definition)."""
    njit = numba.njit(parallel=True, nogil=True, fastmath=False)

    def fill(key, out):
        n_streams, per_stream = out.shape
        for g in prange(n_streams // width):
            lanes = np.empty((STATE_WORDS, width), np.uint64)
            outputs = np.empty(width, np.uint64)
            state = np.empty(STATE_WORDS, np.uint64)
            z = np.empty((rows, width), dtype)
            for lane in range(width):
                seed_path(key, g * width + lane, state)
                store_lane(lanes, lane, state)
            for k in range(0, per_stream - rows + 1, rows):
                sampler(lanes, outputs, state, z, 0)
                for r in range(rows):
                    for lane in range(width):
                        out[g * width + lane, k + r] = z[r, lane]

    def ou(key, x0, dt, steps, out):
        sqdt, dt_ = dtype(math.sqrt(dt)), dtype(dt)
        for g in prange(out.size // width):
            lanes = np.empty((STATE_WORDS, width), np.uint64)
            outputs = np.empty(width, np.uint64)
            state = np.empty(STATE_WORDS, np.uint64)
            z = np.empty((rows, width), dtype)
            x = np.empty(width, dtype)
            for lane in range(width):
                seed_path(key, g * width + lane, state)
                store_lane(lanes, lane, state)
                x[lane] = x0
            for _ in range(steps // rows):
                sampler(lanes, outputs, state, z, 0)
                for r in range(rows):
                    for lane in range(width):
                        x[lane] += -x[lane] * dt_ + sqdt * z[r, lane]
            for lane in range(width):
                out[g * width + lane] = x[lane]

    return njit(fill), njit(ou)


fill_normal_lanes, bare_ou_lanes_kernel = lanes_kernels(normal_lanes, np.float64, 1)
"""``fill_normal_lanes(key, out)``: out as in `fill_normal_streams`, the same numbers, drawn LANES streams at
once; ``bare_ou_lanes_kernel(key, x0, dt, steps, out)``: `bare_ou_kernel` on LANES paths at a time (out.size a
multiple of LANES), the same numbers bit for bit, the normals drawn by `normal_lanes`."""
bare_ou_lanes16_kernel = lanes_kernels(normal_lanes, np.float64, 1, width=16)[1]
"""`bare_ou_lanes_kernel` 16 paths at a time: the group width before 64 (issue 23's reference for the engine)."""
V2 = {"version 2 float64 (normal_lanes_v2)": lanes_kernels(normal_lanes_v2, np.float64, 1),
      "version 2 float32 (normal32_lanes_v2)": lanes_kernels(normal32_lanes_v2, np.float32, 1)}


def _best_of(fn, repeats=3):
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    key = stream_key(2024)
    per_stream = N_DRAWS // N_STREAMS
    buf = np.empty((N_STREAMS, per_stream))

    # warm-up calls compile (or load from cache) before timing
    fill_normal_streams(key, buf[:2, :10])
    fill_numba_normal(buf[:2, :10])
    gen = np.random.default_rng(2024)
    gen.standard_normal(10)

    fill_normal_lanes(key, buf[:LANES, :10])
    t_ours = _best_of(lambda: fill_normal_streams(key, buf))
    t_lanes = _best_of(lambda: fill_normal_lanes(key, buf))
    t_v2 = {}
    for name, (fill, _) in V2.items():
        out = np.empty(buf.shape, np.float32 if "float32" in name else np.float64)
        fill(key, out[:LANES, :10])
        t_v2[name] = _best_of(lambda: fill(key, out))
    t_numba = _best_of(lambda: fill_numba_normal(buf))
    t_numpy = _best_of(lambda: gen.standard_normal(N_DRAWS))

    rate = lambda t: buf.size / t  # noqa: E731
    print(f"threads: {numba.get_num_threads()}, draws: {N_DRAWS:.0e}")
    print(f"sdesim normal (prange)            : {rate(t_ours) / 1e6:8.1f} M draws/s")
    print(f"sdesim normal_lanes ({LANES} lanes)    : {rate(t_lanes) / 1e6:8.1f} M draws/s"
          f"   (lanes / normal = {t_ours / t_lanes:.2f}x)")
    for name, t in t_v2.items():
        print(f"sdesim {name:<34}: {rate(t) / 1e6:8.1f} M draws/s   (/ normal_lanes = {t_lanes / t:.2f}x)")
    print(f"numba np.random.standard_normal  : {rate(t_numba) / 1e6:8.1f} M draws/s"
          f"   (sdesim / numba = {t_numba / t_ours:.2f}x)")
    print(f"numpy default_rng standard_normal: {rate(t_numpy) / 1e6:8.1f} M draws/s"
          f"   (sdesim / numpy = {t_numpy / t_ours:.2f}x)")

    out = np.empty(OU_PATHS)
    bare_ou_kernel(key, 1.0, OU_DT, 2, out[:10])  # warm-up
    t_ou = _best_of(lambda: bare_ou_kernel(key, 1.0, OU_DT, OU_STEPS, out))
    print(f"bare OU Euler-Maruyama ({OU_PATHS} paths x {OU_STEPS} steps): "
          f"{OU_PATHS * OU_STEPS / t_ou / 1e6:8.1f} M path-steps/s ({t_ou * 1e3:.1f} ms)")
    lanes_out = np.empty(OU_PATHS)
    bare_ou_lanes_kernel(key, 1.0, OU_DT, 2, lanes_out[:LANES])  # warm-up
    t_lanes_ou = _best_of(lambda: bare_ou_lanes_kernel(key, 1.0, OU_DT, OU_STEPS, lanes_out))
    same = np.array_equal(out, lanes_out)
    print(f"the same, {LANES} paths in SIMD lanes           : "
          f"{OU_PATHS * OU_STEPS / t_lanes_ou / 1e6:8.1f} M path-steps/s ({t_lanes_ou * 1e3:.1f} ms, "
          f"{t_ou / t_lanes_ou:.2f}x; same numbers: {same})")
    lanes16_out = np.empty(OU_PATHS)
    bare_ou_lanes16_kernel(key, 1.0, OU_DT, 2, lanes16_out[:16])  # warm-up
    t_lanes16 = _best_of(lambda: bare_ou_lanes16_kernel(key, 1.0, OU_DT, OU_STEPS, lanes16_out))
    print(f"the same, 16 paths in SIMD lanes           : "
          f"{OU_PATHS * OU_STEPS / t_lanes16 / 1e6:8.1f} M path-steps/s ({t_lanes16 * 1e3:.1f} ms, "
          f"{t_lanes16 / t_lanes_ou:.2f}x slower than {LANES}; same numbers: {np.array_equal(out, lanes16_out)})")
    for name, (_, ou) in V2.items():
        v2_out = np.empty(OU_PATHS, np.float32 if "float32" in name else np.float64)
        ou(key, 1.0, OU_DT, 2, v2_out[:LANES])  # warm-up
        t_v2_ou = _best_of(lambda: ou(key, 1.0, OU_DT, OU_STEPS, v2_out))
        print(f"the same, stream {name:<34}: {OU_PATHS * OU_STEPS / t_v2_ou / 1e6:8.1f} M path-steps/s "
              f"({t_lanes_ou / t_v2_ou:.2f}x the version-1 lanes)")


if __name__ == "__main__":
    main()
