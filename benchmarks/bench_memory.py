"""Benchmark of memory at scale: least squares on a 20000×300 data set (48 MB of features).

Each measurement runs in a fresh process, so that its peak resident memory (``ru_maxrss``)
is its own: Python, numpy, numba and the kernel (loaded from the disk cache, or compiled
on a cold one) included.  Measured:

1. building ``linear_regression`` on the data set, and ``linear_regression(dim=2000)``:
   the n×d×d linear-quadratic form is built only when the exact moment engine needs it
   (it would be 13.4 GiB and 1.9 GiB);
2. ``simulate`` with SGD, SVAG (l = 4) and the SDE (Euler–Maruyama, dt = η/4) on it.

The aim: each within 1 GB of peak memory.

    python benchmarks/bench_memory.py [--n 20000] [--dim 300] [--paths 32] [--steps 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

AIM = 10**9   # bytes: 1 GB

CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np

def rss():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024   # bytes on macOS, KiB on Linux

import sdesim
from sdesim.problems import linear_regression

job = json.loads(sys.argv[1])
out = {"before": rss()}
building = job["what"] in ("build", "dim2000")
if building:   # tracemalloc's own records would inflate a simulation's peak: only for the builds
    tracemalloc.start()
start = time.perf_counter()
if job["what"] == "dim2000":
    problem = linear_regression(dim=2000)
else:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((job["n"], job["dim"]))
    b = a @ rng.standard_normal(job["dim"]) / np.sqrt(job["dim"]) + 0.1 * rng.standard_normal(job["n"])
    out["data_bytes"] = a.nbytes + b.nbytes
    problem = linear_regression(a, b, batch_size=32)
    if job["what"] != "build":
        kw = dict(l=job["l"]) if job["what"] != "sgd" else {}
        result = sdesim.simulate(problem, job["what"], lr=0.01, steps=job["steps"], paths=job["paths"],
                                 block_size=job["block_size"], seed=0, **kw)
        out["loss"] = [float(v) for v in result.mean("loss")]
        out["diverged"] = result.diverged
out["seconds"] = time.perf_counter() - start
out["traced_peak"] = tracemalloc.get_traced_memory()[1] if building else None
out["peak"] = rss()
print(json.dumps(out))
"""


def machine() -> str:
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   platform.machine())
    except OSError:
        cpu = platform.processor() or platform.machine()
    try:
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB of memory"
    except (AttributeError, OSError, ValueError):
        memory = ""
    return f"{cpu}, {os.cpu_count()} cores{memory}"


def measure(job: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_NUM_THREADS=str(job["threads"])))
    if proc.returncode:
        raise RuntimeError(f"{job['what']} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mb(value: float) -> str:
    return f"{value / 1e6:.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="examples")
    parser.add_argument("--dim", type=int, default=300, help="features")
    parser.add_argument("--paths", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="effective steps (η = 0.01)")
    parser.add_argument("--l", type=int, default=4, help="SVAG's l and the SDE's dt = η/l")
    parser.add_argument("--block-size", type=int, default=16, help="paths per block (16: both threads busy)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)

    import numba
    import numpy as np

    common = dict(n=args.n, dim=args.dim, paths=args.paths, steps=args.steps, l=args.l,
                  block_size=args.block_size, threads=args.threads)
    form = 8 * args.n * args.dim**2
    print(f"machine: {machine()}; python "
          f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"command: python benchmarks/bench_memory.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"data: {args.n}×{args.dim} features ({mb(8 * args.n * args.dim)} MB); its n×d×d form would be "
          f"{form / 2**30:.1f} GiB, never built here; {args.paths} paths × {args.steps} effective steps, "
          f"block_size {args.block_size}, {args.threads} threads")
    rows = []
    jobs = [("build", f"linear_regression on the {args.n}×{args.dim} data"),
            ("dim2000", "linear_regression(dim=2000) (n = 64; form 1.9 GiB)"),
            ("sgd", "simulate sgd"), ("svag", f"simulate svag, l = {args.l}"),
            ("sde", f"simulate sde, dt = η/{args.l}")]
    for what, label in jobs:
        out = measure(dict(common, what=what))
        rows.append((label, out))
    head = ("what", "peak RSS (MB)", "RSS after imports (MB)", "Python and numpy peak, tracemalloc (MB)", "seconds",
            "within 1 GB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, out in rows:
        traced = "-" if out["traced_peak"] is None else mb(out["traced_peak"])
        lines.append(f"| {label} | {mb(out['peak'])} | {mb(out['before'])} | {traced} | "
                     f"{out['seconds']:.1f} | {'yes' if out['peak'] <= AIM else 'NO'} |")
    print("\n".join(lines) if args.markdown else "\n".join(line.replace("|", " ") for line in lines))
    return 0 if all(out["peak"] <= AIM for _, out in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
