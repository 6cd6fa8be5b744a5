"""The cost of slicing the kernels' steps (sdesim.kernels.slicing): the same run in one kernel call per
piece of paths and in calls of about 0.4 s, alternated, in one process.

    python benchmarks/bench_slicing.py [--paths 20000] [--steps 20000] [--repeats 5]
"""

import argparse
import platform
import time

import numba

from sdesim.kernels.slicing import Slicer
from sdesim.problems import quadratic
from sdesim.simulate import Run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {numba.get_num_threads()} threads, numba {numba.__version__}")
    for method, dim in (("sgd", 1), ("sde", 1), ("sgd", 4)):
        run = Run(quadratic(dim), method, lr=0.01, steps=args.steps, seed=0, observables=["norm2"])
        run.blocks(0, 1024)   # compile
        times = {"unsliced": [], "sliced": []}
        calls = {}
        for _ in range(args.repeats):
            for name, slicer in (("unsliced", Slicer(steps=int(run.small[-1]))), ("sliced", Slicer())):
                run.slicer = slicer
                counter = [0]
                kernel = run.module.run_paths
                run.module.run_paths = lambda *a, k=kernel: (counter.__setitem__(0, counter[0] + 1), k(*a))
                start = time.perf_counter()
                run.blocks(0, args.paths)
                times[name].append(time.perf_counter() - start)
                run.module.run_paths = kernel
                calls[name] = counter[0]
        best = {k: min(v) for k, v in times.items()}
        print(f"{method} d={dim}: {args.paths} paths x {int(run.small[-1])} steps: unsliced {best['unsliced']:.2f} s "
              f"({calls['unsliced']} call), sliced {best['sliced']:.2f} s ({calls['sliced']} calls, "
              f"{best['sliced'] / calls['sliced']:.2f} s each): ratio {best['sliced'] / best['unsliced']:.3f}")


if __name__ == "__main__":
    main()
