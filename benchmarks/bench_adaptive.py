"""Speed of the adaptive methods (RMSprop, Adam and their SDEs) against SGD, per gradient evaluation.

One run measures, on this machine and in this process, ``sdesim.simulate`` with each method on
the same problem, the alternatives interleaved round by round and the best of ``--repeats``
timings kept, so that they share the machine's noise; each row reports ns per gradient
evaluation and its ratio to SGD's in the same run.  The aim (issue "adaptive methods in the
engine"): Adam within 1.5x of SGD per gradient.

What counts as one gradient evaluation:

- ``sgd``, ``rmsprop``, ``adam``, ``paper_rmsprop`` with l = 1: one minibatch gradient per step;
- the same with l > 1 (the 2022 paper's SVAG, l^2 small steps of eta/l per effective step), and
  ``svag`` with l > 1: two independent minibatch gradients per small step;
- ``rmsprop_sde``, ``adam_sde`` (Euler-Maruyama, dt = eta^2/l^2): one mean gradient and one noise
  factor D(x) with its product D z per step, counted as one gradient.

Problems: ``linear_regression(dim=10, n=256, batch_size=8)`` (as section 3 of bench_engine.py)
and the 1-D and 2-D ``quadratic``.  In 1-D SGD runs on the engine's two-paths-at-a-time kernel
(``run_paths_scalar`` in sdesim/kernels/template.py); the adaptive methods keep optimizer state
per path and always run the general one-path kernel (``run_paths_any``), which matters most there.

Run from the repository root:

    .venv/bin/python benchmarks/bench_adaptive.py            # readable tables (about 6 min on 2 cores)
    .venv/bin/python benchmarks/bench_adaptive.py --markdown # and the same as Markdown
    .venv/bin/python benchmarks/bench_adaptive.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_engine as be  # noqa: E402  (tables, timing, machine description; puts the root on sys.path)

import sdesim  # noqa: E402
from sdesim.methods import plan  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402

# name -> (method, l, hyperparameters); rmsprop_sde starts at v0 = 1 (from u = 0 its noise term
# has no finite limit without bias correction, docs/theory/adaptive-sde.md)
VARIANTS = {
    "SGD": ("sgd", 1, {}),
    "SVAG l=2 (info)": ("svag", 2, {}),
    "RMSprop l=1": ("rmsprop", 1, {}),
    "paper_rmsprop l=1 (bias corr.)": ("paper_rmsprop", 1, {}),
    "Adam l=1": ("adam", 1, {}),
    "Adam l=1, bias_correction=False": ("adam", 1, {"bias_correction": False}),
    "RMSprop l=2": ("rmsprop", 2, {}),
    "Adam l=2": ("adam", 2, {}),
    "rmsprop_sde (v0=1)": ("rmsprop_sde", 1, {"v0": 1.0}),
    "adam_sde": ("adam_sde", 1, {}),
    "adam_sde, bias_correction=False": ("adam_sde", 1, {"bias_correction": False}),
}
QUICK_VARIANTS = ("SGD", "RMSprop l=1", "Adam l=1", "Adam l=1, bias_correction=False", "Adam l=2",
                  "rmsprop_sde (v0=1)", "adam_sde")


def grads_per_small_step(method: str, l: int) -> int:
    """Gradient evaluations in one small step: two for an SVAG combination (c2 != 0), else one."""
    return 2 if plan(method, 0.1, l).c2 != 0.0 else 1


def small_steps_per_effective(method: str, lr: float, l: int) -> int:
    return int(round(plan(method, lr, l).steps_per_unit))


def section(args, problem, label, paths, number):
    """Time every variant on ``problem``; return name -> ns per gradient evaluation."""
    names = QUICK_VARIANTS if args.quick else tuple(VARIANTS)

    def make(method, l, hyper):
        unit = small_steps_per_effective(method, args.lr, l)
        grads = grads_per_small_step(method, l)

        def run(n_small):
            r = sdesim.simulate(problem, method, l=l, lr=args.lr, steps=n_small // unit, paths=paths,
                                observables=["loss"], seed=args.seed, **hyper)
            return n_small, n_small * grads, float(r.mean("loss")[-1]), r.diverged
        return run, unit

    runs = {name: make(*VARIANTS[name]) for name in names}
    for fn, unit in runs.values():      # compile (or load from the cache) first
        fn(2 * unit)
    steps = {name: be.choose_steps(fn, 10 * unit, args.target, unit, args.max_steps)
             for name, (fn, unit) in runs.items()}
    cases = {name: ((lambda fn=fn, n=steps[name]: fn(n)), None) for name, (fn, _) in runs.items()}
    res = be.interleaved(cases, args.repeats)
    kernel_note = ("d = 1: SGD and SVAG run two paths at a time (run_paths_scalar); the adaptive methods "
                   "keep optimizer state and run the one-path kernel (run_paths_any)" if problem.dim == 1
                   else "every method runs the one-path kernel (run_paths_any)")
    t = be.Table(f"{number}. Adaptive methods vs SGD, {label}, eta={args.lr}, {paths:,} paths, "
                 f"{sdesim_threads()} numba threads",
                 ["method", "small steps", "grads/small step", "best s", "median s", "ns/grad eval",
                  "ns/grad vs SGD", "ns/small step", "M grads/s", "loss at end", "diverged"],
                 notes=["grads: a minibatch gradient (SGD, l = 1), two per small step with l > 1 (SVAG "
                        "combination of two independent minibatches), one mean gradient + noise factor "
                        "D(x) and D z per Euler step for the SDEs",
                        "ns/grad vs SGD: this row's ns per gradient / SGD's, same run (> 1: slower)",
                        kernel_note,
                        "loss at end: SGD-type rows at time k*eta, adaptive rows at time k*eta^2: "
                        "not comparable across the two"])
    ns = {}
    for name, (best, _, (n_small, grads, _, _)) in res.items():
        ns[name] = best / (paths * grads) * 1e9
    for name, (best, med, (n_small, grads, loss_end, diverged)) in res.items():
        t.add(name, n_small, grads // n_small, f"{best:.3f}", f"{med:.3f}", f"{ns[name]:.1f}",
              f"{ns[name] / ns['SGD']:.2f}x", f"{best / (paths * n_small) * 1e9:.1f}",
              be.mps(paths * grads / best), f"{loss_end:.4g}", diverged)
    be.show(t)
    return ns


def sdesim_threads():
    import numba
    return numba.get_num_threads()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate eta (default 0.1)")
    ap.add_argument("--lr-paths", type=int, default=20_000,
                    help="paths on linear_regression(dim=10, n=256) (default 20000)")
    ap.add_argument("--quadratic-paths", type=int, default=100_000,
                    help="paths on the 1-D and 2-D quadratic (default 100000)")
    ap.add_argument("--target", type=float, default=1.0,
                    help="seconds one timing should take; step counts are chosen for it (default 1.0)")
    ap.add_argument("--max-steps", type=int, default=40_000, help="cap on small steps per timing (default 40000)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; best is reported (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma-separated problems to skip: linreg,quad1,quad2")
    ap.add_argument("--quick", action="store_true",
                    help="fewer paths and variants, short timings: a smoke test (about 1 min with compiled kernels)")
    ap.add_argument("--markdown", action="store_true", help="also print every table as Markdown at the end")
    args = ap.parse_args(argv)
    if args.quick:
        args.lr_paths, args.quadratic_paths, args.target, args.repeats = 2_000, 10_000, 0.1, 2
    args.threads = "not used"            # machine_lines reports torch threads
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    start = time.perf_counter()
    machine = be.machine_lines(args)
    print("\n".join(machine), flush=True)
    problems = [("linreg", linear_regression(dim=10, n=256, batch_size=8),
                 "linear_regression(dim=10, n=256, batch_size=8)", args.lr_paths),
                ("quad1", quadratic(1), "quadratic(1)", args.quadratic_paths),
                ("quad2", quadratic(2), "quadratic(2)", args.quadratic_paths)]
    results = {}
    for i, (key, problem, label, paths) in enumerate(p for p in problems if p[0] not in skip):
        results[label] = section(args, problem, label, paths, number=str(i + 1))

    aims = be.Table("Aim: Adam within 1.5x of SGD per gradient (ns/grad Adam / ns/grad SGD, same run)",
                    ["problem", "Adam l=1", "Adam l=1, no bias corr.", "Adam l=2", "met (l=1 and l=2)"])
    for label, ns in results.items():
        cells = [ns[name] / ns["SGD"] for name in ("Adam l=1", "Adam l=1, bias_correction=False", "Adam l=2")]
        aims.add(label, *(f"{c:.2f}x" for c in cells), "yes" if max(cells[0], cells[2]) <= 1.5 else "NO")
    be.show(aims)
    tail = (f"total benchmark time: {time.perf_counter() - start:.0f} s; load average at end: "
            + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + "; " + be.busy_line("after the run"))
    print("\n" + tail)
    if args.markdown:
        print("\n\n# Markdown\n")
        print("\n".join(f"- {line}" for line in machine + [tail]))
        for table in be.TABLES:
            print("\n" + table.markdown())


if __name__ == "__main__":
    main()
