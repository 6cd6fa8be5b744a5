"""The cost of handing each user observable its own copy of x (`sdesim.kernels.guards`), issue 21.

Before issue 21 the kernel passed a path's own x to the user observables, so one that wrote into
its argument moved the path.  Now each gets ``seen``, a scratch buffer of the kernel's that holds a
copy of x made just before the call (d numbers copied per function, checkpoint and path).  This times the same run
with the copy and with the old call (``x`` itself, the generator patched back), interleaved, and
reports the ratio of the best times.  The worst case is a checkpoint at every step in the kernel
that steps x itself (d = 2, SGD: ``run_paths_any``; with d = 1 the kernels already record a
copy of the lane), with a user observable that does almost nothing.

Run from the repository root (``--quick`` for a smoke test):

    .venv/bin/python benchmarks/bench_user_functions.py
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

from sdesim.kernels import build, guards  # noqa: E402
from sdesim.problems import quadratic  # noqa: E402
from sdesim.simulate import Run  # noqa: E402

COPYING = guards.user_observables_source


def without_copy(sizes):
    """The generator as it was before issue 21: every user observable called on x itself."""
    return COPYING(sizes).replace("    for k in range(x.shape[0]):\n        seen[k] = x[k]\n", "").replace(
        "(seen)", "(x)")


@numba.njit
def first(x):
    return x[0]


@numba.njit
def second(x):
    return x[1]


def case(every: bool, steps: int, paths: int, observables: dict) -> dict:
    return dict(problem=quadratic(2), method="sgd", lr=0.05, steps=steps, paths=paths, seed=1, block_size=256,
                checkpoints=list(range(steps + 1)) if every else None, observables=["x"],
                user_observables=observables)


def prepared(generator, settings: dict) -> Run:
    """The run with its kernel built from ``generator``'s source, compiled (or loaded) and run once."""
    build.user_observables_source = generator
    build._LOADED.clear()   # another source: another kernel module
    settings = dict(settings)
    paths = settings.pop("paths")
    run = Run(**settings)
    run.blocks(0, paths)
    return run


def timed(run: Run, paths: int) -> float:
    start = time.perf_counter()
    run.blocks(0, paths)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps, paths = (50, 2048) if args.quick else (400, 16384)
    cases = {"a checkpoint every step, one user observable": case(True, steps, paths, {"first": first}),
             "a checkpoint every step, two user observables": case(True, steps, paths, {"first": first,
                                                                                       "second": second}),
             "checkpoints at the start and the end, one user observable": case(False, steps, paths,
                                                                               {"first": first})}
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; {numba.get_num_threads()} numba threads; "
          f"python {platform.python_version()}, numba {numba.__version__}")
    print(f"command: {' '.join(['python', *sys.argv])}")
    print(f"quadratic(2), sgd, lr 0.05, {steps} steps, {paths} paths, observables x + user; best of {args.repeats}\n")
    print("| case | copy of x (s) | x itself (s) | ratio |")
    print("|---|---|---|---|")
    for name, settings in cases.items():
        runs = {generator: prepared(generator, settings) for generator in (COPYING, without_copy)}
        best = {generator: float("inf") for generator in runs}
        for _ in range(args.repeats):
            for generator, run in runs.items():
                best[generator] = min(best[generator], timed(run, settings["paths"]))
        print(f"| {name} | {best[COPYING]:.3f} | {best[without_copy]:.3f} | {best[COPYING] / best[without_copy]:.3f} |")

if __name__ == "__main__":
    main()
