"""The order rule on exact Euler error sequences of real schemes plus Monte Carlo noise.

For each scheme of tests/scheme_errors.py (GBM E X² and E X, a 2-d Ornstein–Uhlenbeck
E|X|², the nonlinear SDE dX = −X dt + √(0.5 + 0.5X²) dW with E X⁴), each number of paths
N per level and each reference (exact, or 0.2% off), 1000 draws of the exact errors plus
Gaussian noise at the standard error sd/√N are judged by `fit_order` (order 1, precision
0.1, 95%), and the verdicts counted.  "2-term excludes" counts the draws whose two-term
interval alone excludes 1: what the rule before the three-term check rejected.  Also the
cost of the rule per test function of a study: one `fit_order` against the two-term fit alone
(what the rule before it computed), timed alternately on the same data in one run.

    python benchmarks/bench_order_rule.py [--draws 1000] [--fit-from 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scheme_errors import L, SCHEMES, errors  # noqa: E402

from scipy import special  # noqa: E402

from sdesim.estimators.order import fit_order  # noqa: E402
from sdesim.estimators.profile import model_fit  # noqa: E402

PATHS = (1e6, 16e6, 256e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--fit-from", type=int, default=2, help="the smallest l fitted (a study's default is 2)")
    args = parser.parse_args()
    start = int(np.searchsorted(L, args.fit_from))
    print(f"l = {L[start]}…{L[-1]} fitted, {args.draws} draws per row; {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}\n")
    print("| scheme | N paths | reference | offset / se | confirmed | rejected | inconclusive | of which floor "
          "| 2-term excludes |")
    print("|---|---|---|---|---|---|---|---|---|")
    times = []
    for name in SCHEMES:
        exact, sd = errors(name)
        for offset in (0.0, 0.002):
            e, _ = errors(name, offset)
            for k, paths in enumerate(PATHS):
                se = sd / np.sqrt(paths)
                gen = np.random.default_rng(1000 + k)
                counts = {"confirmed": 0, "rejected": 0, "inconclusive": 0}
                floor = two = 0
                for _ in range(args.draws):
                    t0 = time.perf_counter()
                    fit = fit_order(L[start:], (e + gen.normal(0.0, se))[start:], se[start:])
                    times.append(time.perf_counter() - t0)
                    counts[fit.kind] += 1
                    floor += "level off" in fit.verdict
                    lo, hi = fit.models["two"][1]
                    two += not lo <= 1.0 <= hi
                z = np.max(np.abs(e - exact)) / se[-1]
                print(f"| {name} | {paths:.0e} | {'exact' if offset == 0 else '0.2% off'} | {z:.1f} | "
                      f"{counts['confirmed']} | {counts['rejected']} | {counts['inconclusive']} | {floor} | {two} |",
                      flush=True)
    print(f"\none fit during the table: median {1e3 * np.median(times):.2f} ms, 95th percentile "
          f"{1e3 * np.quantile(times, 0.95):.2f} ms")
    cost(L[start:].astype(float))


def cost(l, rounds=300) -> None:
    """One fit_order against the two-term fit alone, alternating, on the OU errors at 16M paths."""
    e, sd = errors("ou_norm2")
    se = (sd / np.sqrt(16e6))[-l.size:]
    data = (e[-l.size:] + np.random.default_rng(7).normal(0.0, se, size=(rounds, l.size)))
    threshold = float(special.chdtri(1, 0.05))
    full, two = [], []
    for row in data:
        t0 = time.perf_counter()
        fit_order(l, row, se)
        t1 = time.perf_counter()
        model_fit(l, row, np.diag(1 / se), 2, threshold)
        t2 = time.perf_counter()
        full.append(t1 - t0)
        two.append(t2 - t1)
    print(f"cost per fit (median of {rounds}, alternating): the rule {1e3 * np.median(full):.2f} ms, the two-term "
          f"fit alone {1e3 * np.median(two):.2f} ms, ratio {np.median(full) / np.median(two):.1f}")


if __name__ == "__main__":
    main()
