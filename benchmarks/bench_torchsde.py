"""Speed of the sdesim.torch.sde route (torchsde on the engine's problems) against the numba engine.

The same SDE, the same Euler step, the same number of steps and paths on both sides:

1. the 1-D Ornstein–Uhlenbeck problem ``quadratic(1)`` (constant noise, m = 1);
2. a 10-D least-squares problem ``linear_regression(dim=10, n=64)``, whose noise factor is
   10 × 64 and depends on x (Σ(x) = s Σ_i (D_i x − e_i)(D_i x − e_i)ᵀ).

``sdesim.simulate(problem, "sde", ...)`` against ``sdesim.torch.sde.solve(problem, ...)``
(float64, on the CPU, and on the GPU when one is there), interleaved round by round, best
of ``--repeats``, after a warm-up run (numba compilation and torch start-up left out).
Rates are path-steps per second; the ratio is engine / torchsde.  benchmarks/bench_engine.py
compares the engine with hand-written torchsde modules; this one times the route users take.

    .venv/bin/python benchmarks/bench_torchsde.py              # markdown table
    .venv/bin/python benchmarks/bench_torchsde.py --quick      # a smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sdesim  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402
from sdesim.torch import sde  # noqa: E402


def cases(quick: bool):
    steps, paths = (20, 2_000) if quick else (200, 20_000)
    return [
        ("1-D OU, quadratic(1)", quadratic(1), np.zeros(1), steps, paths),
        ("10-D least squares, linear_regression(dim=10, n=64)", linear_regression(dim=10, n=64, batch_size=8),
         np.zeros(10), steps // 10, paths // 4),
    ]


def best_time(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown CPU"
    gpu = f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{name}, {os.cpu_count()} logical CPUs visible{gpu}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads and numba threads")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lr, l = 0.1, 2
    rows = []
    for name, problem, x0, steps, paths in cases(args.quick):
        small_steps = steps * l
        runners = {"numba engine": lambda: sdesim.simulate(problem, "sde", lr=lr, l=l, steps=steps, paths=paths,
                                                          seed=1, x0=x0, threads=args.threads)}
        for device in devices:
            def torch_run(device=device):
                result = sde.solve(problem, lr=lr, l=l, steps=steps, paths=paths, seed=1, x0=x0, device=device)
                if device == "cuda":
                    torch.cuda.synchronize()
                return result
            runners[f"sdesim.torch.sde ({device})"] = torch_run
        results = {key: run() for key, run in runners.items()}          # warm-up (compilation) and the numbers
        timings = {key: [] for key in runners}
        for _ in range(repeats):                                      # interleaved rounds
            for key, run in runners.items():
                timings[key].append(best_time(run, 1))
        engine_norm = results["numba engine"].mean("norm2")[-1]
        for key, values in timings.items():
            t = min(values)
            r = results[key]
            z = (r.mean("norm2")[-1] - engine_norm) / np.hypot(r.stderr("norm2")[-1],
                                                                results["numba engine"].stderr("norm2")[-1])
            rows.append((name, key, steps, small_steps, paths, t, paths * small_steps / t,
                         min(timings["numba engine"]) / t, z))
    print(f"Machine: {machine()}; torch {torch.__version__} with {args.threads} threads, numba threads {args.threads}\n")
    print("| SDE | route | effective steps | Euler steps | paths | best time (s) | path-steps/s | "
          "speed vs engine | E\\|x\\|² gap (combined se) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, key, steps, small, paths, t, rate, ratio, z in rows:
        print(f"| {name} | {key} | {steps} | {small} | {paths} | {t:.3g} | {rate:.3g} | {ratio:.3g}× | {z:+.2f} |")


if __name__ == "__main__":
    main()
