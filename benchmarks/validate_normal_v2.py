"""Stream version 2's normals at scale: the raw moments and tail rates of 1e10 draws (float64 and float32).

Each of ``--streams`` streams (paths 0, 1, … of one key, as a simulation's) draws ``draws / streams``
normals, in both numba threads; the sums of z, z², z³, z⁴ and the counts beyond r (the ziggurat's tail
edge, 3.654), 4.5, 5 and 6 are compared with the standard normal's: each line prints the estimate, the
exact value, the standard error and z = (estimate − exact) / se.  The run passes when every |z| ≤ 5
(exit status 0, else 1).  A float32 draw is compared in float64 after rounding, so a count beyond an
edge may move by the draws within float32's rounding of it (a handful in 1e10 at r).

Run:  PYTHONPATH=. python benchmarks/validate_normal_v2.py [--draws 1e10] [--seed 20261205]
(about a minute per 1e10 draws and precision on a quiet 2-core machine); the numbers are in
benchmarks/RESULTS.md §21.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numba
import numpy as np
from numba import prange

from sdesim._jit import parallel_jit
from sdesim.rng import seed_path, stream_key
from sdesim.rng.normal import ZIGGURAT_R
from sdesim.rng.normal_v2 import normal32_v2, normal_v2
from sdesim.rng.xoshiro import STATE_WORDS

EDGES = np.array([ZIGGURAT_R, 4.5, 5.0, 6.0])


@parallel_jit
def sums(key, streams, per_stream, single, edges, out):
    """out[s] = (Σz, Σz², Σz³, Σz⁴, then the counts of |z| > edges[e]) over stream s's per_stream draws."""
    n_edges = edges.size
    for s in prange(streams):
        state = np.empty(STATE_WORDS, np.uint64)
        seed_path(key, s, state)
        s1 = s2 = s3 = s4 = 0.0
        counts = np.zeros(n_edges)
        for _ in range(per_stream // 2):
            if single:
                za = np.float64(normal32_v2(state))
                zb = np.float64(normal32_v2(state))
            else:
                za = normal_v2(state)
                zb = normal_v2(state)
            for z in (za, zb):
                z2 = z * z
                s1 += z
                s2 += z2
                s3 += z2 * z
                s4 += z2 * z2
                m = abs(z)
                if m > edges[0]:
                    for e in range(n_edges):
                        if m > edges[e]:
                            counts[e] += 1.0
        out[s, 0], out[s, 1], out[s, 2], out[s, 3] = s1, s2, s3, s4
        for e in range(n_edges):
            out[s, 4 + e] = counts[e]


def check(name, draws, totals) -> bool:
    """Print the estimate, exact value, standard error and z of each moment and tail rate; True if all |z| ≤ 5."""
    n = draws
    rows = [("E z", totals[0] / n, 0.0, math.sqrt(1 / n)), ("E z^2", totals[1] / n, 1.0, math.sqrt(2 / n)),
            ("E z^3", totals[2] / n, 0.0, math.sqrt(15 / n)), ("E z^4", totals[3] / n, 3.0, math.sqrt(96 / n))]
    for e, edge in enumerate(EDGES):
        p = math.erfc(edge / math.sqrt(2.0))
        rows.append((f"P(|z| > {edge:.4g})", totals[4 + e] / n, p, math.sqrt(p * (1 - p) / n)))
    ok = True
    print(f"{name}: {n:.3g} draws")
    for label, est, exact, se in rows:
        z = (est - exact) / se
        ok &= abs(z) <= 5.0
        print(f"  {label:<16} {est: .10e}  exact {exact: .10e}  se {se:.2e}  z {z:+.2f}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=float, default=1e10)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args(argv)
    per_stream = int(args.draws) // args.streams // 2 * 2
    draws = per_stream * args.streams
    key = stream_key(args.seed)
    print(f"threads: {numba.get_num_threads()}, seed {args.seed}, {args.streams} streams of {per_stream} draws")
    ok = True
    for name, single in (("normal_v2 (float64)", False), ("normal32_v2 (float32)", True)):
        out = np.empty((args.streams, 4 + EDGES.size))
        sums(key, 2, 2, single, EDGES, out[:2])   # compile first
        start = time.perf_counter()
        sums(key, args.streams, per_stream, single, EDGES, out)
        seconds = time.perf_counter() - start
        ok &= check(name, draws, out.sum(axis=0))
        print(f"  {seconds:.1f} s, {draws / seconds / 1e6:.0f} M draws/s with the sums")
    print("PASS: every |z| <= 5" if ok else "FAIL: some |z| > 5")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
