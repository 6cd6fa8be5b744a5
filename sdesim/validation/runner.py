"""Run the claim checks and write validation/REPORT.md: ``sdesim validate`` in Python."""

from __future__ import annotations

import sys
import time

from sdesim import interrupts
from sdesim.atomic import writable_folder
from sdesim.kernels.precision import DEFAULT_DTYPE, check_dtype
from sdesim.validation import (claim1_one_step_moments, claim2_weak_order, claim3_decomposition,
                               claim4_equilibrium, claim5_scaling_rule, claim6_adaptive_weak_order,
                               claim7_square_root_rule)
from sdesim.validation.report import write_report

CLAIMS = {module.NAME: module for module in (claim1_one_step_moments, claim2_weak_order, claim3_decomposition,
                                             claim4_equilibrium, claim5_scaling_rule, claim6_adaptive_weak_order,
                                             claim7_square_root_rule)}


def select(only=None) -> list:
    """The claim modules named in ``only`` (all when None), in the paper's order; unknown names are an error."""
    if only is None:
        return list(CLAIMS.values())
    names = [only] if isinstance(only, str) else list(only)
    unknown = [n for n in names if n not in CLAIMS]
    if unknown or not names:
        raise ValueError(f"unknown claim {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"the claims are: {', '.join(CLAIMS)}")
    return [m for name, m in CLAIMS.items() if name in names]


def in_dtype(modules, dtype: str) -> tuple[list, list]:
    """The claim modules that run in ``dtype``, and (name, why) of those that run in float64 only; a ValueError
    when none of ``modules`` runs in it."""
    if dtype == DEFAULT_DTYPE:
        return list(modules), []
    runs = [m for m in modules if not m.FLOAT64_ONLY]
    only64 = [(m.NAME, m.FLOAT64_ONLY) for m in modules if m.FLOAT64_ONLY]
    if not runs:
        raise ValueError(f"no claim asked for runs in {dtype}: " + "; ".join(f"{name}: {why}" for name, why in only64)
                         + f". The claims with {dtype} paths: "
                         + ", ".join(m.NAME for m in CLAIMS.values() if not m.FLOAT64_ONLY))
    return runs, only64


def validate(quick: bool = True, out_dir="sdesim-validation", only=None, progress: bool | None = None,
             dtype: str = DEFAULT_DTYPE):
    """Check the claims (all, or those named in ``only``), write REPORT.md and results.json in ``out_dir``.

    ``dtype="float32"`` runs the claims' paths in float32 (`sdesim.kernels.precision`; their exact references
    and statistics stay float64) and leaves out, named in the report, the claims that run in float64 only.
    Returns (list of `ClaimResult`, path of the report).  ``out_dir`` is checked writable before the first claim.
    Ctrl-C or SIGTERM stops the run: the claims that finished are reported, the one cut short and those after
    it are named as not run, never judged (`sdesim.interrupts.received` tells the caller).
    """
    dtype = check_dtype(dtype)
    modules, float64_only = in_dtype(select(only), dtype)
    writable_folder("out_dir", out_dir)
    if progress is None:
        progress = sys.stderr.isatty()
    start = time.perf_counter()
    results = []
    from tqdm.auto import tqdm

    with interrupts.caught(), tqdm(modules, desc="claims", unit="claim", disable=not progress) as bar:
        for module in bar:
            bar.set_postfix_str(module.NAME)
            try:
                result = module.run(quick=quick, out_dir=out_dir, **({} if dtype == DEFAULT_DTYPE else {"dtype": dtype}))
            except KeyboardInterrupt:
                break
            if interrupts.received():   # its studies kept what finished: a claim judged on part of its work
                break
            results.append(result)
        stopped = interrupts.received()
    not_run = [m.NAME for m in modules[len(results):]] if stopped else None
    path = write_report(results, out_dir, quick=quick, seconds=time.perf_counter() - start, not_run=not_run,
                        dtype=dtype, float64_only=float64_only)
    return results, path


def run_one(claim, description: str, argv=None) -> int:
    """The command line of one ``validation/claimN_*.py`` script: run ``claim``, print its table.

    Writes the figure under ``--out``/figures and returns exit status 1 if the claim fails.
    """
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small settings")
    parser.add_argument("--out", default="sdesim-validation",
                        help="folder for the figure (the repository's committed figures: --out validation)")
    args = parser.parse_args(argv)
    result = claim.run(quick=args.quick, out_dir=args.out)
    print(result.table())
    return 0 if result.passed else 1
