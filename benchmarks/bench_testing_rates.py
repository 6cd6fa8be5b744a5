"""False alarms of every `sdesim.testing` assertion on correct simulations, over fresh seeds.

Each assertion is called on a correct case ``--runs`` times, each run on a fresh seed (10_000 + i),
at its default tolerance (k = 5; `assert_weak_order`: precision 0.25, 99.9%) and at k = 2 and 3,
where chance failures are frequent enough to count: the per-entry share of |z| > k (read from the
assertion's own message, "m of n entries differ") is held against the normal 2(1 − Φ(k)).

- `assert_within_stderr`: means of 1000 Exp(1) draws (3 entries) against 1;
- `assert_matches_exact`: the SDE on a 2-d quadratic by its exact transition (2000 paths, E x at
  t = 1, 2: 4 entries) against the closed form;
- `assert_agree`: two SGD runs of 2000 paths with different seeds (E x and E|x|² at t = 1, 2: 6 entries);
- `assert_one_step_moments`: SVAG and the SDE, l = 1, 4, exponential noise, 10⁵ samples (56 entries);
- `assert_identical_results`: SGD against SVAG at l = 1 on one seed (exact invariant);
- `assert_weak_order`: exact weak errors plus Gaussian noise at sd/√N, N from
  `weak_order_paths_needed` (power 0.99): SVAG on linear_regression(dim=2), η = 0.1, T = 1, E x₀
  at T (the exact moment engine), and the Euler sequences of tests/scheme_errors.py (l = 2…64).

    python benchmarks/bench_testing_rates.py [--runs 500] [--order-runs 2000]
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scheme_errors import L, errors  # noqa: E402

from sdesim.estimators.exact_moments import ExactMoments  # noqa: E402
from sdesim.estimators.order import fit_order  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402
from sdesim.simulate import simulate  # noqa: E402
from sdesim.testing import (assert_agree, assert_identical_results, assert_matches_exact,  # noqa: E402
                            assert_one_step_moments, assert_weak_order, assert_within_stderr)
from sdesim.testing.assertions import ORDER_CONFIDENCE, ORDER_PRECISION  # noqa: E402
from sdesim.testing.power import false_alarm_rate, weak_order_paths_needed  # noqa: E402

SIGMAS = (5.0, 3.0, 2.0)
QUADRATIC = quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                      noise_cov=[[1.0, 0.3], [0.3, 0.5]])
SKEWED = quadratic(2, noise="exponential", noise_cov=[[1.0, 0.4], [0.4, 0.8]])
X0 = np.array([0.5, 2.0])


def within_stderr(seed, k):
    draws = np.random.default_rng(seed).exponential(size=(1000, 3))
    assert_within_stderr(draws.mean(0), draws.std(0, ddof=1) / math.sqrt(1000), 1.0, sigmas=k)


def matches_exact(seed, k):
    result = simulate(QUADRATIC, "sde", scheme="exact", lr=0.2, steps=10, paths=2000, seed=seed, x0=X0,
                      checkpoints=[5, 10])
    exact = [QUADRATIC.exact_sde.observables(t, X0, 0.2)["x"] for t in result.times]
    assert_matches_exact(result, "x", exact, sigmas=k)


def agree(seed, k):
    kw = dict(lr=0.2, steps=10, paths=2000, x0=X0, checkpoints=[5, 10])
    a, b = simulate(QUADRATIC, "sgd", seed=2 * seed, **kw), simulate(QUADRATIC, "sgd", seed=2 * seed + 1, **kw)
    failures = []
    for name in ("x", "norm2"):
        try:
            assert_agree(a, b, name, sigmas=k)
        except AssertionError as failure:
            failures.append(str(failure))
    if failures:
        raise AssertionError("\n".join(failures))


def one_step(seed, k):
    assert_one_step_moments(SKEWED, l=(1, 4), x=[1.0, -0.5], lr=0.4, paths=100_000, seed=seed, sigmas=k)


def identical(seed, k):
    kw = dict(lr=0.2, steps=5, paths=500, seed=seed, x0=X0)
    assert_identical_results(simulate(QUADRATIC, "sgd", **kw), simulate(QUADRATIC, "svag", l=1, **kw))


CASES = {"assert_within_stderr": (within_stderr, 3), "assert_matches_exact": (matches_exact, 4),
         "assert_agree": (agree, 6), "assert_one_step_moments": (one_step, 56),
         "assert_identical_results": (identical, 0)}


def count(check, runs, k):
    """(runs that failed, entries beyond k standard errors) over fresh seeds."""
    failed = entries = 0
    for i in range(runs):
        try:
            check(10_000 + i, k)
        except AssertionError as failure:
            failed += 1
            entries += sum(int(m) for m in re.findall(r"(\d+) of \d+ entries differ", str(failure)))
    return failed, entries


def upper95(failed, runs):
    """The one-sided 95% Clopper–Pearson upper bound of a rate from ``failed`` of ``runs``."""
    from scipy import stats
    return 1.0 if failed == runs else float(stats.beta.ppf(0.95, failed + 1, runs - failed))


def svag_errors():
    """SVAG's exact weak errors in E x₀ at T = 1 (η = 0.1) against the SDE's, and sd of x₀, for l = 1…64."""
    problem, lr, steps = linear_regression(dim=2), 0.1, 10
    engine, x0 = ExactMoments(problem, lr), np.zeros(2)
    reference = engine.sde_moments([lr * steps], x0).mean[0][0]
    e, sd = [], []
    for l in L:
        m = engine.method_moments("svag", int(l), [steps], x0)
        e.append(m.mean[0][0] - reference)
        sd.append(math.sqrt(m.second[0][0, 0] - m.mean[0][0] ** 2))
    return np.array(e), np.array(sd)


def order_rows(runs):
    sequences = {"svag_x0 (exact engine)": svag_errors(), "gbm_x2": errors("gbm_x2"), "ou_norm2": errors("ou_norm2"),
                 "gbm_x": errors("gbm_x")}
    fit_l = L[L >= 2]
    print(f"\n| assert_weak_order on | N paths per level (weak_order_paths_needed) | runs | passed | rejected | "
          f"of which floor | inconclusive | rejected, 95% upper bound |")
    print("|---|---|---|---|---|---|---|---|")
    for row, (name, (e, sd)) in enumerate(sequences.items()):
        e, sd = e[L >= 2], sd[L >= 2]
        paths = weak_order_paths_needed(fit_l, e, sd)
        se = sd / math.sqrt(paths)
        gen = np.random.default_rng(np.random.SeedSequence(20_000 + row))     # independent noise per row
        kinds = {"confirmed": 0, "rejected": 0, "inconclusive": 0}
        floor = 0
        for _ in range(runs):
            noisy = e + gen.normal(0.0, se)
            try:
                assert_weak_order(noisy, l=fit_l, stderr=se)
                kinds["confirmed"] += 1
            except AssertionError:
                fit = fit_order(fit_l, noisy, se, precision=ORDER_PRECISION, confidence=ORDER_CONFIDENCE)
                kinds[fit.kind] += 1
                floor += "level off" in fit.verdict
        print(f"| {name} | {paths:.3g} | {runs} | {kinds['confirmed']} | {kinds['rejected']} | {floor} | "
              f"{kinds['inconclusive']} | {upper95(kinds['rejected'], runs):.2g} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--order-runs", type=int, default=2000)
    parser.add_argument("--order-only", action="store_true", help="only the assert_weak_order table")
    args = parser.parse_args()
    started = time.time()
    print(f"command: python benchmarks/bench_testing_rates.py {' '.join(sys.argv[1:])}")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}\n")
    print("| assertion | entries per call | k | runs | runs failed | 95% upper bound | bound n·α(k) | "
          "entries beyond k | per entry | normal α(k) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (check, entries) in ({} if args.order_only else CASES).items():
        for k in SIGMAS if entries else (5.0,):
            failed, beyond = count(check, args.runs, k)
            bound = false_alarm_rate(k, entries) if entries else 0.0
            per_entry = f"{beyond / (args.runs * entries):.2e}" if entries else "–"
            alpha = f"{false_alarm_rate(k):.2e}" if entries else "–"
            print(f"| {name} | {entries} | {k:g} | {args.runs} | {failed} | {upper95(failed, args.runs):.2g} | "
                  f"{bound:.2g} | {beyond} | {per_entry} | {alpha} |", flush=True)
    order_rows(args.order_runs)
    print(f"\n{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
