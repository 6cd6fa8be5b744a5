"""How often the 5-standard-error tolerance of the one-step moment checks raises a false alarm.

The z-scores of `sdesim.estimators.moment_checks` divide a sample moment's error by its standard
error, itself estimated from the same samples.  For E Δ^{⊗3} that standard error is a sixth-moment
estimate, heavy-tailed when the noise is skewed, so |z| > 5 can be far more frequent than the
normal 2(1 − Φ(5)) = 5.7e-7.  This script measures it: many independent checks of ``paths``
samples each on cases whose exact moments are known (`false_alarm_rates`), counting |z| > 3, 4, 5
per entry and for the largest entry of each tensor.  The results are quoted in the module
docstring of `sdesim.estimators.moment_checks` and in docs/theory/one-step-moments.md.

    .venv/bin/python validation/moment_false_alarms.py                 # about 40 minutes on one core
    .venv/bin/python validation/moment_false_alarms.py --samples 2e7   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sdesim.estimators.moment_checks import false_alarm_rates  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402

PATHS = (1000, 3000, 10_000, 30_000, 100_000)


def cases():
    """(label, problem, x, η, l, method, weight of the sample budget): claim 1's problems."""
    skewed = quadratic(2, noise="exponential")
    return [("quadratic, Exp(1) − 1 noise, SVAG l = 1", skewed, (2.0, -1.0), 0.5, 1, "svag", 1.0),
            ("quadratic, Exp(1) − 1 noise, SVAG l = 4", skewed, (2.0, -1.0), 0.5, 4, "svag", 1.0),
            ("quadratic, the SDE (Gaussian increments), l = 1", skewed, (2.0, -1.0), 0.5, 1, "sde", 0.5),
            ("least squares B = 2, SVAG l = 1", linear_regression(dim=2, batch_size=2), (1.0, -0.5), 0.5, 1, "svag",
             0.5)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=4e8, help="sampled increments per (case, paths) point")
    parser.add_argument("--paths", default=",".join(map(str, PATHS)), help="comma-separated samples per check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = [int(p) for p in args.paths.split(",")]
    print("| case | samples per check | checks | order | entry tests | \\|z\\| > 3 | \\|z\\| > 4 | \\|z\\| > 5 | "
          "largest entry \\|z\\| > 5 |")
    print("|---|---|---|---|---|---|---|---|---|")
    normal = None
    for label, problem, x, lr, l, method, weight in cases():
        for n in paths:
            repetitions = max(1, int(weight * args.samples) // n)
            start = time.perf_counter()
            result = false_alarm_rates(problem, x=x, lr=lr, l=l, method=method, paths=n, repetitions=repetitions,
                                       seed=args.seed)
            for k, o in result["orders"].items():
                rates = " | ".join(f"{o['rate'][t]:.2g} ({o['exceed'][t]})" for t in (3.0, 4.0, 5.0))
                print(f"| {label} | {n} | {repetitions} | {k} | {o['tests']} | {rates} | {o['largest_rate'][5.0]:.2g} |",
                      flush=True)
                normal = o["normal"]
            print(f"<!-- {time.perf_counter() - start:.0f} s -->", flush=True)
    print(f"\nnormal rates: |z| > 3: {normal[3.0]:.2g}, > 4: {normal[4.0]:.2g}, > 5: {normal[5.0]:.2g}; "
          "in brackets: counts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
