"""Benchmark of the convergence study (the main job).

Measures, in one run:
1. the wall time of the default ``sdesim converge`` study (warm kernel cache, and the
   compile time of a cold one in a subprocess with a fresh cache);
2. the exact moment engine's time for a sweep of l = 1 … 1024;
3. the paths needed to hold the fitted order's 95% interval to ±0.05, with and without
   the control variates: the half-width w(N) of the interval scales as 1/√N, so from a
   study at N paths, N_needed = N (w(N) / 0.05)².  Their ratio is the variance
   reduction's gain, as a measured factor;
4. the cost of recording every effective step (the paper's weak error, a maximum over
   steps) as a ratio to recording 4 checkpoints, on the default study's level runs (the
   same observables and co-moments), timed alternately in one run;
5. the order fit's coverage and power on synthetic errors e(l) = C₁ l^{−p}(1 + c₂/l) +
   noise (the settings of tests/test_order_fit.py, 2000 draws each).

    python benchmarks/bench_converge.py [--paths 100000] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

from sdesim.cli import CONVERGE_DEFAULTS, CONVERGE_X0
from sdesim.estimators.order import fit_order
from sdesim.estimators.test_functions import norm4, second_moments
from sdesim.estimators.weak_error import DEFAULT_L, weak_error_study
from sdesim.problems import linear_regression, quadratic
from sdesim.simulate import Run

TARGET = 0.05


def default_problem():
    return quadratic(2, **CONVERGE_DEFAULTS)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def cold_converge_seconds() -> float:
    """`sdesim converge` in a fresh process with an empty kernel cache (compiles its kernel)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SDESIM_CACHE_DIR=cache)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sdesim.cli", "converge", "--plot", "none"], env=env, check=True,
                       stdout=subprocess.DEVNULL, cwd=cache)
        return time.perf_counter() - start


def warm_converge_seconds() -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sdesim.cli", "converge", "--plot", "none"], check=True,
                       stdout=subprocess.DEVNULL, cwd=folder)
        return time.perf_counter() - start


def paths_needed(paths: int, control_variates: bool):
    study = weak_error_study(default_problem(), lr=0.2, time=1.0, tests=("norm4",), paths=paths, seed=1,
                             x0=np.full(2, CONVERGE_X0), control_variates=control_variates)
    fit = study.fit
    half = (fit.ci[1] - fit.ci[0]) / 2
    return fit, half, paths * (half / TARGET) ** 2


def recording_cost(paths: int, horizons=((0.2, 1.0), (0.1, 10.0)), l_values=(1, 16), repeats: int = 3):
    """Seconds of the level runs with every effective step recorded, and with 4 checkpoints (best of
    ``repeats``, timed alternately), for the default study's observables and co-moments."""
    out = []
    for lr, horizon in horizons:
        steps = int(round(horizon / lr))
        for l in l_values:
            common = dict(lr=lr, l=l, steps=steps, x0=np.full(2, CONVERGE_X0), observables=["x"],
                          user_observables={"norm4": norm4, "second_moments": second_moments}, covariance=True)
            every = Run(default_problem(), "svag", checkpoints=np.arange(1, steps + 1), **common)
            four = Run(default_problem(), "svag", checkpoints=np.rint(np.arange(1, 5) * steps / 4).astype(int),
                       **common)
            every.blocks(0, 1024), four.blocks(0, 1024)   # compile
            t_every, t_four = [], []
            for _ in range(repeats):
                t_every.append(timed(lambda: every.blocks(0, paths))[1])
                t_four.append(timed(lambda: four.blocks(0, paths))[1])
            out.append((lr, horizon, steps, l, min(t_every), min(t_four)))
    return out


def coverage(draws: int = 2000):
    """(p, c₂, relative error, coverage, confirmed, rejected) on synthetic studies, l = 1…64."""
    l = 2.0 ** np.arange(7)
    rows = []
    settings = [(1.0, c2, rel) for c2 in (-0.3, 0.0, 0.3, 1.0) for rel in (0.001, 0.01, 0.05)]
    settings += [(p, 0.3, rel) for p in (0.8, 1.25) for rel in (0.001, 0.01)]
    for i, (p, c2, rel) in enumerate(settings):
        gen = np.random.default_rng(1000 + i)
        true = 0.7 * l**-p * (1 + c2 / l)
        se = rel * np.abs(true)
        fits = [fit_order(l, true + gen.normal(0.0, se), se) for _ in range(draws)]
        rows.append((p, c2, rel, np.mean([f.ci[0] <= p <= f.ci[1] for f in fits]),
                     np.mean([f.kind == "confirmed" for f in fits]), np.mean([f.kind == "rejected" for f in fits])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, numpy {np.__version__}, "
          f"numba {numba.__version__}")
    print(f"command: python benchmarks/bench_converge.py --paths {args.paths}" + (" --markdown" if args.markdown else ""))

    warm_converge_seconds()  # make sure the kernel is in the default cache
    warm = min(warm_converge_seconds() for _ in range(2))
    cold = cold_converge_seconds()

    exact_problem = linear_regression(dim=3, weight_decay=0.05)
    l_values = [2**k for k in range(11)]
    weak_error_study(exact_problem, lr=0.1, time=2.0, exact=True, l_values=[1, 2])
    study, exact_seconds = timed(lambda: weak_error_study(exact_problem, lr=0.1, time=2.0, exact=True,
                                                          tests=("norm2", "loss"), l_values=l_values))

    rows = []
    for cv in (True, False):
        (fit, half, needed), seconds = timed(lambda: paths_needed(args.paths, cv))
        rows.append((cv, fit, half, needed, seconds))
    gain = rows[1][3] / rows[0][3]

    bar = "|" if args.markdown else ""
    sep = " | " if args.markdown else "  "
    print()
    print(f"{bar} what {sep} seconds {bar}")
    if args.markdown:
        print("|---|---|")
    print(f"{bar} default `sdesim converge`, kernel cached (best of 2, whole process) {sep} {warm:.1f} {bar}")
    print(f"{bar} default `sdesim converge`, empty kernel cache (compiles) {sep} {cold:.1f} {bar}")
    print(f"{bar} exact engine, linear regression d=3, l = 1…1024 (11 levels, 2 tests) {sep} {exact_seconds:.3f} {bar}")
    print()
    print(f"order fit of the default study (norm4, l = {', '.join(map(str, DEFAULT_L))}), {args.paths} paths per l:")
    print(f"{bar} control variates {sep} p {sep} 95% interval {sep} half-width {sep} fitted over l {sep} "
          f"paths per l for ±{TARGET} {sep} study seconds {bar}")
    if args.markdown:
        print("|---|---|---|---|---|---|---|")
    for cv, fit, half, needed, seconds in rows:
        print(f"{bar} {'yes' if cv else 'no'} {sep} {fit.order:.3f} {sep} [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}] {sep} "
              f"{half:.3f} {sep} {', '.join(str(int(v)) for v in fit.l)} {sep} {needed:,.0f} {sep} {seconds:.1f} {bar}")
    print()
    print(f"gain of the control variates: {gain:.0f}x fewer paths for the same interval")
    print(f"exact engine verdict: {study.fit.verdict}")

    print()
    print(f"recording every effective step against 4 checkpoints, level runs of {args.paths} paths "
          "(x, norm4, x_i x_j and their co-moments; best of 3, alternating):")
    print(f"{bar} η {sep} T {sep} steps K {sep} l {sep} every step, s {sep} 4 checkpoints, s {sep} ratio {bar}")
    if args.markdown:
        print("|---|---|---|---|---|---|---|")
    for lr, horizon, steps, l, t_every, t_four in recording_cost(args.paths):
        print(f"{bar} {lr:g} {sep} {horizon:g} {sep} {steps} {sep} {l} {sep} {t_every:.3f} {sep} {t_four:.3f} {sep} "
              f"{t_every / t_four:.2f} {bar}")

    print()
    print("order fit on synthetic errors e(l) = 0.7 l^-p (1 + c2/l) + noise, l = 1…64, 2000 draws per setting:")
    print(f"{bar} true p {sep} c₂ {sep} relative error {sep} 95% interval covers p {sep} order 1 confirmed {sep} "
          f"order 1 rejected {bar}")
    if args.markdown:
        print("|---|---|---|---|---|---|")
    for p, c2, rel, covered, confirmed, rejected in coverage():
        print(f"{bar} {p:g} {sep} {c2:g} {sep} {100 * rel:g}% {sep} {covered:.3f} {sep} {confirmed:.3f} {sep} "
              f"{rejected:.3f} {bar}")


if __name__ == "__main__":
    main()
