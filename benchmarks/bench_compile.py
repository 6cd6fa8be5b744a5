"""What the first study costs to compile: ``sdesim converge`` (the default study) in a fresh process with
empty caches (a new SDESIM_CACHE_DIR and NUMBA_CACHE_DIR), its wall and CPU time, and the CPU time
numba spent compiling, in all and in the path kernels (numba's compile events, nested ones subtracted).

Run from the repository root:

    .venv/bin/python benchmarks/bench_compile.py              # the default study, 100,000 paths per l
    .venv/bin/python benchmarks/bench_compile.py --repeats 2  # cold twice, then once warm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
from numba.core import event
stack, kernels, total = [], [], [0.0]
class Compiles(event.Listener):
    def on_start(self, ev):
        stack.append([time.process_time(), 0.0])
    def on_end(self, ev):
        start, inner = stack.pop()
        spent = time.process_time() - start
        if stack:
            stack[-1][1] += spent
        total[0] += spent - inner
        name = getattr(ev.data["dispatcher"].py_func, "__name__", "")
        if name.startswith("run_paths"):
            kernels.append((name, spent))
event.register("numba:compile", Compiles())
wall = time.perf_counter()
from sdesim.cli import main
code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(exit=code, wall=time.perf_counter() - wall, cpu=usage.ru_utime + usage.ru_stime,
                      compile_cpu=total[0], kernels=kernels)))
"""


def first_study(cache: Path, args: list[str]) -> dict:
    env = dict(os.environ, SDESIM_CACHE_DIR=str(cache / "sdesim"), NUMBA_CACHE_DIR=str(cache / "numba"))
    out = subprocess.run([sys.executable, "-c", CHILD, "converge", "--plot", "none", "--no-progress", *args],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="cold runs, each with fresh caches")
    ap.add_argument("--paths", default=None, help="paths per l (default: the command's)")
    args = ap.parse_args(argv)
    extra = [] if args.paths is None else ["--paths", args.paths]
    print("| run | wall s | CPU s | compiling, CPU s | path kernels compiled (CPU s) |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):
            cache = Path(tmp) / str(min(i, args.repeats - 1))   # the last run reuses the last cold run's caches
            r = first_study(cache, extra)
            label = f"cold {i + 1}" if i < args.repeats else "warm"
            kernels = ", ".join(f"{name} ({cpu:.1f})" for name, cpu in r["kernels"]) or "none"
            print(f"| {label} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['compile_cpu']:.1f} | {kernels} |", flush=True)


if __name__ == "__main__":
    main()
