"""A user SDE for bench_engine.py's table 1, in an importable module so that its kernels are cached on disk:
geometric Brownian motion dX = μX dt + σX dW, coordinate by coordinate, written with elementwise functions
(``sde(..., elementwise=True)``: its 64 SIMD lanes move together) and with the matrix diffusion without it
(d = 1: lanes moved one by one; d > 1: one path at a time).  The exact mean of the Euler recursion is
x₀ Π(1 + μh).

Run alone, it times the three forms of the 1-D row (the built-in OU, GBM elementwise, GBM matrix) and
the d-D GBM in both forms, interleaved in one process, best and median of ``--rounds``:

    .venv/bin/python benchmarks/bench_user_sde.py
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from sdesim.problems import sde

MU, SIGMA, X0 = -0.01, 0.1, 1.0   # E X_t = e^{-0.01 t}: order 1 over the longest timing (t = 200)


@numba.njit
def drift(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[0] * x[j]


@numba.njit
def diagonal(x, data, out):
    for j in range(x.shape[0]):
        out[j] = data[1] * x[j]


@numba.njit
def diffusion(x, data, out):
    for j in range(x.shape[0]):
        for k in range(x.shape[0]):
            out[j, k] = 0.0
        out[j, j] = data[1] * x[j]


def gbm(elementwise: bool, dim: int = 1):
    return sde("gbm", dim, drift=drift, diffusion=diagonal if elementwise else diffusion, x0=[X0] * dim,
               data=(MU, SIGMA), elementwise=elementwise)


def euler_mean(hs) -> float:
    """E x_n of the Euler recursion x ← x + μx h + σx √h z over the steps hs."""
    return X0 * float(np.prod(1.0 + MU * np.asarray(hs)))


def _rates(cases: dict, paths: int, steps: int, rounds: int) -> dict:
    """name -> (best, median) path-steps/s of ``simulate(problem, "sde")`` over ``steps`` steps of 0.01."""
    import sdesim

    def run(problem, n):
        unit = {"dt": 0.1} if problem.sde_terms else {"lr": 0.1}
        return sdesim.simulate(problem, "sde", **unit, l=10, steps=n // 10, paths=paths, observables=["x"])

    for problem in cases.values():
        run(problem, 20)   # compile, or load from the cache
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, problem in cases.items():
            t0 = time.perf_counter()
            run(problem, steps)
            times[name].append(time.perf_counter() - t0)
    return {name: (paths * steps / min(ts), paths * steps / float(np.median(ts))) for name, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--dims", default="2,10", help="dimensions of the d-D rows (default 2,10)")
    args = ap.parse_args(argv)
    from sdesim.problems import quadratic

    print(f"numba threads: {numba.get_num_threads()}")
    one = _rates({"built-in OU": quadratic(1), "GBM elementwise": gbm(True), "GBM matrix": gbm(False)},
                 100_000, 2000, args.rounds)
    ou_best, ou_median = one["built-in OU"]
    for name, (best, median) in one.items():
        print(f"d = 1  {name:16s} best {best:.3g} path-steps/s, median {median:.3g}; "
              f"/ OU: best {best / ou_best:.2f}, median {median / ou_median:.2f}")
    for dim in (int(d) for d in args.dims.split(",")):
        rates = _rates({"GBM elementwise": gbm(True, dim), "GBM matrix": gbm(False, dim)}, 20_000,
                       2000 // dim, args.rounds)
        (eb, em), (mb, mm) = rates["GBM elementwise"], rates["GBM matrix"]
        print(f"d = {dim}  GBM elementwise best {eb:.3g}, median {em:.3g}; matrix best {mb:.3g}, median {mm:.3g}; "
              f"elementwise / matrix: best {eb / mb:.2f}, median {em / mm:.2f}")


if __name__ == "__main__":
    main()
