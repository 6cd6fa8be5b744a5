"""Path-steps per second of the lane kernels at this checkout's group width (`sdesim.rng.lanes.LANES`).

Five cases that run in SIMD lanes, each timed best of ``--repeats`` rounds, the cases interleaved in each
round: the 1-D OU (the built-in quadratic) in float64 and in float32, a 10-D quadratic, and the GBM of
`bench_user_sde.py` written elementwise in 1-D and 10-D.  The group width is a constant of the source, so
two widths are compared by running this script in two checkouts (a git worktree of each commit), one
after the other and again, on the same machine (benchmarks/RESULTS.md §22).

Run:  PYTHONPATH=. python benchmarks/bench_group_width.py [--repeats 4]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sdesim  # noqa: E402
from sdesim.problems import quadratic  # noqa: E402
from sdesim.rng.lanes import LANES  # noqa: E402

import bench_user_sde  # noqa: E402

OU = dict(hessian=[[1.0]], minimizer=[1.0], noise_cov=[[1.0]])
CASES = {   # name: (problem, simulate's extra arguments, paths, small steps)
    "OU 1-D float64": (lambda: quadratic(1, **OU), {}, 100_000, 2500),
    "OU 1-D float32": (lambda: quadratic(1, **OU), {"dtype": "float32"}, 100_000, 2500),
    "quadratic 10-D": (lambda: quadratic(10), {}, 20_000, 500),
    "GBM elementwise 1-D": (lambda: bench_user_sde.gbm(elementwise=True), {}, 100_000, 2500),
    "GBM elementwise 10-D": (lambda: bench_user_sde.gbm(elementwise=True, dim=10), {}, 20_000, 500),
}


def run(problem, extra, paths, small_steps, l=10):
    step = {"dt": 0.01} if problem.sde_terms else {"lr": 0.01}
    return sdesim.simulate(problem, "sde", **step, l=l, steps=small_steps // l, paths=paths, seed=1,
                           observables=["x"], **extra)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    problems = {name: make() for name, (make, *_) in CASES.items()}
    for name, (_, extra, paths, steps) in CASES.items():
        run(problems[name], extra, 64, 20)   # compile, or load from the cache
    best = dict.fromkeys(CASES, float("inf"))
    for _ in range(args.repeats):
        for name, (_, extra, paths, steps) in CASES.items():
            start = time.perf_counter()
            run(problems[name], extra, paths, steps)
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"LANES = {LANES}, best of {args.repeats}")
    for name, (_, _, paths, steps) in CASES.items():
        print(f"  {name:<22} {paths * steps / best[name]:.3e} path-steps/s")


if __name__ == "__main__":
    main()
