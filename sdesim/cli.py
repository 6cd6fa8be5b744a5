"""The ``sdesim`` command line: ``simulate``, ``converge`` (the main job), ``moments``, ``decompose``,
``rerun`` (`sdesim.rerun`), ``validate``, ``demo``, ``teach`` (`sdesim.teach`) (see docs/reference/cli.md).
The commands that judge exit by their verdict (`sdesim.estimators.exit_status`)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sdesim import interrupts
from sdesim._importable import import_named
from sdesim.atomic import OutputError
from sdesim.cli_parser import Parser, add_stream_version_argument, refuse_unless
from sdesim.cli_problem import (add_adaptive_arguments, add_dtype_argument, add_problem_arguments, adaptive_from_args,
                                float_list, int_list, name_list, problem_factory, problem_from_args)
from sdesim.estimators.exit_status import OUTPUT_FAILED, PASSED_KIND, exit_status
from sdesim.estimators.references import REFERENCES
from sdesim.estimators.test_functions import TESTS
from sdesim.estimators.sweep_arguments import ERROR_KINDS
from sdesim.estimators.weak_error import DEFAULT_ADAPTIVE_L, DEFAULT_EULER_FACTOR, DEFAULT_L, SWEEP_METHODS
from sdesim.executors import connect
from sdesim.methods import METHOD_TABLE, METHODS, SCHEMES
from sdesim.outputs import distinct_outputs, output_file, output_folder, picture_file, write_json
from sdesim.simulate import BUILTIN_OBSERVABLES, simulate


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show the default that actually runs in an option's help (a list as it is typed: 1,2,4), unless
    the option has none or its help already says it ('default:' in the help text)."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if (action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool)
                or "default:" in help_text or "(when not given" in help_text):
            return help_text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = ",".join(str(v) for v in default)
        return f"{help_text} (default: {str(default).replace('%', '%%')})"


def _simulate_command(args) -> int:
    output_file(args.json, "--json")
    problem, x0 = problem_from_args(args)
    result = simulate(
        problem, args.method, lr=args.lr, l=args.l, steps=args.steps, paths=args.paths, seed=args.seed, x0=x0,
        checkpoints=args.checkpoints, observables=args.observables, dt=args.dt, scheme=args.scheme,
        threads=args.threads, progress=args.progress, keep_interrupted=True, dtype=args.dtype,
        stream_version=args.stream_version,
        **adaptive_from_args(args),
    )
    print(result.table())
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}")
    return _interrupted(args) if result.interrupted else 0


# The default study: a quadratic problem with skewed (exponential) gradient noise, where
# SVAG's non-Gaussian gap shows in |x|⁴ and the SDE (an Ornstein–Uhlenbeck process) is exact.
CONVERGE_DEFAULTS = {"noise": "exponential"}
CONVERGE_X0 = 2.0
CONVERGE_LR = 0.2


def _progress(args) -> bool:
    return args.progress if args.progress is not None else sys.stderr.isatty()


def _tests_from_args(names):
    """Built-in test names and {name: function} for the module:function entries of --test."""
    builtin, user = [], {}
    for name in names:
        if ":" in name:
            fn = import_named(name, "--test function")
            user[name.rpartition(":")[2].split(".")[-1]] = fn
        elif name in TESTS:
            builtin.append(name)
        else:
            raise ValueError(f"unknown test function {name!r}; built in: {', '.join(TESTS)}, or give "
                             "module:function for your own compiled function of x")
    return tuple(builtin), user


def _scheduler(args):
    """The Dask client of ``--scheduler`` (None without one); ``--scheduler-timeout`` alone is refused, not ignored."""
    refuse_unless(args, args.scheduler is not None, ["scheduler_timeout"],
                  "without --scheduler ADDRESS (it is how long to wait for that scheduler)")
    return connect(args.scheduler, args.scheduler_timeout)


def _reference_from_args(text):
    return import_named(text, "--reference") if ":" in text else text


def _converge_command(args) -> int:
    from sdesim.estimators.sde_terms import study_clock
    from sdesim.estimators.weak_error import weak_error_study

    output_file(args.json, "--json")
    picture = picture_file(args.plot, "--plot")
    distinct_outputs({"--json": args.json, "--plot": picture})
    problem, x0 = problem_from_args(args, CONVERGE_DEFAULTS)
    if args.x0 is None and problem.default_x0 is None and ":" not in args.problem:
        x0 = np.full(problem.dim, CONVERGE_X0)
    refuse_unless(args, not args.exact, ["paths", "seed", "no_control_variates", "euler_factor", "scheduler",
                                         "stream_version"],
                  "with --exact: exact moments draw no paths (no seed, control variates, Euler reference or scheduler)")
    tests, user_tests = _tests_from_args(args.test)
    method, unit = study_clock(problem, lr=args.lr, dt=args.dt, method=args.method, exact=args.exact,
                               hyperparameters=adaptive_from_args(args), control_variates=not args.no_control_variates,
                               default_lr=CONVERGE_LR, cli=True)   # an SDE in its own terms: --dt, no SGD options
    study = weak_error_study(
        problem, **{"dt" if problem.sde_terms else "lr": unit}, time=args.time, tests=tests, user_tests=user_tests,
        l_values=args.l or (DEFAULT_ADAPTIVE_L if METHOD_TABLE[method].adaptive else DEFAULT_L),
        method=method, reference=_reference_from_args(args.reference), exact=args.exact, paths=args.paths,
        seed=args.seed, x0=x0, error=args.error, expected=args.expected, precision=args.precision,
        fit_from=args.fit_from, control_variates=not args.no_control_variates, euler_factor=args.euler_factor,
        client=_scheduler(args), progress=_progress(args),
        hyperparameters=adaptive_from_args(args), dtype=args.dtype, stream_version=args.stream_version)
    study.command = ["sdesim", *args.argv] if hasattr(args, "argv") else None
    study.user_functions = {**problem_factory(args), **study.user_functions}
    print(study.table())
    write_json(args.json, study.to_dict())   # the record first: a failing picture never loses it
    if picture is not None:
        from sdesim import plotting

        try:
            plotting.plot_weak_error(study, picture)
        except Exception as error:   # the record above is kept; say what went wrong with the picture
            print(f"sdesim converge: error: the picture could not be written: {type(error).__name__}: {error}",
                  file=sys.stderr)
            return OUTPUT_FAILED if isinstance(error, OSError) else 2
        print(f"wrote {picture}")
    return _interrupted(args) if study.interrupted else exit_status(study.fits[t].kind for t in study.test_functions)


def _interrupted(args, error=None) -> int:
    """Ctrl-C or SIGTERM cut a command short: what finished was printed and written; exit as shells expect
    (130, 143: `sdesim.interrupts.exit_code`)."""
    print(f"sdesim {args.command}: interrupted", file=sys.stderr)
    return interrupts.exit_code(error)


def _decompose_command(args) -> int:
    from sdesim.estimators.decomposition import decompose

    output_file(args.json, "--json")
    problem, x0 = problem_from_args(args, CONVERGE_DEFAULTS)
    if args.x0 is None and problem.default_x0 is None:
        x0 = np.full(problem.dim, CONVERGE_X0)
    result = decompose(problem, lr=args.lr, time=args.time, test=args.test, l_values=args.l, paths=args.paths,
                       seed=args.seed, x0=x0, control_variates=not args.no_control_variates,
                       precision=args.precision, client=_scheduler(args),
                       progress=_progress(args), dtype=args.dtype, stream_version=args.stream_version)
    print(result.table())
    write_json(args.json, result.to_dict())
    return _interrupted(args) if result.interrupted else exit_status(None if f is None else f.kind
                                                                      for f in result.fits.values())


def _moments_command(args) -> int:
    from sdesim.estimators.adaptive_moments import adaptive_moment_checks
    from sdesim.estimators.moment_checks import moment_checks

    output_file(args.json, "--json")
    adaptive = args.method != "svag"
    hyper = adaptive_from_args(args)
    if hyper and not adaptive:
        raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in hyper)} appl{'ies' if len(hyper) == 1 else 'y'} "
                         "to the adaptive methods (--method rmsprop, adam, paper_rmsprop), not to svag")
    # exact adaptive moments enumerate the noise's values: Rademacher noise unless --noise says otherwise
    problem, x0 = problem_from_args(args, {"noise": "rademacher"} if adaptive else CONVERGE_DEFAULTS)
    x = None if args.x is None else problem.start_point(np.array(args.x * problem.dim if len(args.x) == 1 else args.x))
    if args.x0 is not None:   # the start point is the point of a one-step check
        if x is not None and not np.array_equal(x, x0):
            raise ValueError(f"--x {','.join(f'{v:g}' for v in x)} and --x0 {','.join(f'{v:g}' for v in x0)} name "
                             "different points; the moments are checked at one point: give --x or --x0")
        x = x0
    if adaptive:
        u = hyper.pop("v0", None)
        check = adaptive_moment_checks(problem, args.method, x=x, u=u, lr=args.lr, l_values=args.l, paths=args.paths,
                                       seed=args.seed, **hyper)
    else:
        check = moment_checks(problem, x=x, lr=args.lr, l_values=args.l, paths=args.paths, seed=args.seed)
    print(check.table())
    write_json(args.json, check.to_dict())
    return exit_status([PASSED_KIND[check.passed]])


def _validate_command(args) -> int:
    from sdesim.validation import validate

    output_folder(args.out, "--out")
    results, path = validate(quick=args.quick, out_dir=args.out, only=args.only, progress=_progress(args),
                             dtype=args.dtype)
    for result in results:
        print(result.table())
        print()
    failed = [r.name for r in results if not r.passed]
    print(f"{len(results) - len(failed)} of {len(results)} claims pass" + (f"; failed: {', '.join(failed)}" if failed else ""))
    print(f"wrote {path}")
    if interrupts.received():
        return _interrupted(args)
    return 1 if failed else 0


DEMOS = {"histograms": "histograms", "double-well": "double_well_paths", "stationary-gibbs": "stationary_gibbs",
         "weak-error": "weak_error"}


def _demo_command(args) -> int:
    from sdesim import demos

    out = picture_file(args.out or f"{args.name}.png", "--out")
    options = {"seed": args.seed, "dtype": args.dtype}
    if args.paths is not None:
        options["paths"] = args.paths
    demo = getattr(demos, DEMOS[args.name])(**options)
    print(demo.table())      # the numbers first: a failing picture never loses them
    demo.save(out)
    print(f"picture: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sdesim", description="Simulate SGD, SVAG, noisy GD and the Itô SDE.")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run one method on one problem and print the observables",
                         formatter_class=_HelpFormatter)
    add_problem_arguments(sim)
    g = sim.add_argument_group("method")
    g.add_argument("--method", default="sgd", choices=METHODS, help="sgd eq.(1), svag eq.(5), ngd eq.(3), sde eq.(2); "
                   "rmsprop, adam, paper_rmsprop (Adam with β₁ = 0) and their SDEs rmsprop_sde, adam_sde, "
                   "paper_rmsprop_sde (time t = kη²)")
    g.add_argument("--l", type=int, default=1, help="SVAG's l (sde: step η/l; adaptive: l² steps of η/l, SDE step η²/l²)")
    g.add_argument("--lr", type=float, help="learning rate η (default: 0.1; an SDE in its own terms takes --dt)")
    g.add_argument("--steps", type=int, default=100, help="effective steps K (time T = Kη, adaptive Kη²)")
    g.add_argument("--dt", type=float, help="SDE methods only: the Euler–Maruyama step (when not given: η/l, "
                   "adaptive η²/l²)")
    g.add_argument("--scheme", default="euler", choices=SCHEMES, help="sde only: Euler–Maruyama or the exact transition")
    add_adaptive_arguments(sim)
    g = sim.add_argument_group("run")
    g.add_argument("--paths", type=int, default=10_000, help="independent paths N")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    add_stream_version_argument(g)
    g.add_argument("--checkpoints", type=int_list, help="effective steps to record at, comma-separated (when not given: 0 and K)")
    g.add_argument("--observables", type=name_list, help=f"comma-separated, from {','.join(BUILTIN_OBSERVABLES)} (u, m: the "
                   "adaptive methods' state; when not given: all the method has)")
    g.add_argument("--threads", type=int, help="threads (when not given: all cores); results do not depend on it")
    add_dtype_argument(g)
    g.add_argument("--progress", action="store_true", help="show a progress bar")
    g.add_argument("--json", metavar="PATH", help="also write the result and every parameter to PATH")
    sim.set_defaults(run=_simulate_command)

    conv = sub.add_parser("converge", help="the weak-error study: e(l) over a sweep of l, the fitted order, a verdict",
                          formatter_class=_HelpFormatter,
                          description="Estimate e(l) = max_k |E g(x_k) − E g(X_kη)| of SVAG (or Euler–Maruyama) "
                                      "against the SDE for a sweep of l, fit p in e(l) = C₁ l^−p + C₂ l^−p−1 and "
                                      "say whether order 1 is confirmed, rejected or inconclusive (Theorem 4.3). "
                                      "With no arguments: the quadratic problem in 2-d with exponential gradient "
                                      f"noise, started at x0 = {CONVERGE_X0:g}, tests norm4 and norm2. Your own "
                                      "SDE: --problem module:factory, --test module:function, --reference "
                                      "module:exact.")
    add_problem_arguments(conv, noise="exponential",
                          x0=f"{CONVERGE_X0:g} in every entry, or the problem's own start point where it has one "
                             "(scale_invariant: e₁; a module:factory problem's)")
    g = conv.add_argument_group("study")
    g.add_argument("--method", choices=SWEEP_METHODS, help="what is swept in l (default: svag; sde: Euler with step "
                   "h = η/l; rmsprop, adam, paper_rmsprop: the 2022 paper's SVAG against the adaptive SDE, time kη²; "
                   "their _sde: Euler with step η²/l²; an SDE in its own terms: sde alone)")
    g.add_argument("--lr", type=float, help=f"learning rate η (default: {CONVERGE_LR:g}; not for an SDE in its own terms)")
    g.add_argument("--dt", type=float, metavar="H", help="an SDE in its own terms (sdesim.problems.sde) only, in "
                   "place of --lr: level l is Euler–Maruyama with step H/l, the maximum over t = kH; --time a "
                   "multiple of H")
    g.add_argument("--time", type=float, default=1.0, help="horizon T, a whole number of steps η (adaptive: η²)")
    g.add_argument("--test", type=name_list, default=["norm4", "norm2"], metavar="NAMES",
                   help=f"comma-separated test functions: built in ({','.join(TESTS)}) or module:function (a "
                        "numba-compiled function of x; a vector-valued one gives a row per component) "
                        "(default: norm4,norm2)")
    g.add_argument("--l", type=int_list, metavar="LIST", help="the sweep of l, comma-separated (default: "
                   f"{','.join(map(str, DEFAULT_L))}; adaptive methods, whose level l takes l² steps: "
                   f"{','.join(map(str, DEFAULT_ADAPTIVE_L))})")
    g.add_argument("--reference", default="auto", metavar="{" + ",".join(REFERENCES) + "} or module:exact",
                   help="how E g(X_t) is obtained, per test function: auto takes the exact value where there is one, "
                        "else extrapolation in l; module:exact is your function exact(name, times) returning "
                        "E g(X_t) for the test called name (None for a test it has no value for)")
    g.add_argument("--error", default="max-over-steps", choices=[k.replace("_", "-") for k in ERROR_KINDS],
                   help="max-over-steps: the paper's e(l), the largest gap over every effective step (the step "
                        "picked on paths independent of those that estimate it); at-time: the gap at t = T")
    g.add_argument("--expected", type=float, help="the order to judge (default: the method's own: 1; 2 for "
                   "Euler on an adaptive SDE, whose step η²/l² falls like l⁻²)")
    g.add_argument("--precision", type=float, default=0.1,
                   help="confirmed needs a 95%% interval for p that contains the expected order and is at most this "
                        "wide either side; in (0, 1)")
    g.add_argument("--fit-from", type=int, default=2,
                   help="the smallest l in the order fit, fixed before the run (l = 1, SGD itself, is the most "
                        "pre-asymptotic: with the maximum over steps its step of largest gap often differs)")
    g.add_argument("--exact", action="store_true", help="exact moments instead of Monte Carlo (quadratic tests)")
    add_dtype_argument(g)
    g.add_argument("--paths", type=int, default=100_000, help="paths per l (at least 100)")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    add_stream_version_argument(g)
    g.add_argument("--no-control-variates", action="store_true", help="plain Monte Carlo (for comparison)")
    g.add_argument("--euler-factor", type=int, help="reference 'euler' only: how much finer than the finest l "
                   f"(default: {DEFAULT_EULER_FACTOR})")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the paths on this Dask scheduler")
    g.add_argument("--scheduler-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for the scheduler before giving up")
    g.add_argument("--plot", default="weak_error.png",
                   help="where to write the log-log plot (.png, .pdf, .svg, …; .png is added to a name without a "
                        "suffix; 'none': no plot)")
    g.add_argument("--json", metavar="PATH", help="write the study, every parameter included")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (when not given: shown when stderr is a terminal)")
    add_adaptive_arguments(conv)
    conv.set_defaults(run=_converge_command)

    mom = sub.add_parser("moments", help="Lemma 4.6/4.7: one-step moments of SVAG and the SDE against exact values",
                         formatter_class=_HelpFormatter)
    add_problem_arguments(mom, noise="exponential")
    g = mom.add_argument_group("check")
    g.add_argument("--method", default="svag", choices=("svag", "rmsprop", "adam", "paper_rmsprop"),
                   help="svag: Lemmas 4.6/4.7; rmsprop, adam, paper_rmsprop: the 2022 paper's SVAG and its SDE's Euler "
                        "step from the state (x, u = --v0 or diag Σ(x), m = 0), exact by enumerating the noise's values "
                        "(default noise for them: rademacher)")
    g.add_argument("--x", type=float_list, help="the point x (when not given: --x0, else the problem's start point)")
    g.add_argument("--lr", type=float, default=0.5, help="learning rate η")
    g.add_argument("--l", type=int_list, default=[1, 2, 4, 8], help="values of l")
    g.add_argument("--paths", type=int, default=1_000_000, help="sampled increments per row")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    g.add_argument("--json", metavar="PATH", help="write the table, every parameter included")
    add_adaptive_arguments(mom)
    mom.set_defaults(run=_moments_command)

    dec = sub.add_parser("decompose", help="eq. (4): SVAG's error = discretization error + non-Gaussian gap, per l",
                         formatter_class=_HelpFormatter)
    add_problem_arguments(dec, noise="exponential",
                          x0=f"{CONVERGE_X0:g} in every entry, or the problem's own start point where it has one")
    g = dec.add_argument_group("decomposition")
    g.add_argument("--lr", type=float, default=0.2, help="learning rate η")
    g.add_argument("--time", type=float, default=1.0, help="horizon T, a whole number of steps η (adaptive: η²)")
    g.add_argument("--test", default="norm4", choices=TESTS, help="the test function")
    g.add_argument("--l", type=int_list, default=[1, 2, 4, 8, 16], help="values of l (l = 1: SGD and NGD)")
    g.add_argument("--paths", type=int, default=100_000, help="paths per scheme and l")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    add_stream_version_argument(g)
    g.add_argument("--no-control-variates", action="store_true", help="plain Monte Carlo")
    add_dtype_argument(g)
    g.add_argument("--precision", type=float, default=0.1,
                   help="confirmed needs a 95%% interval for each part's order at most this wide either side")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the paths on this Dask scheduler")
    g.add_argument("--scheduler-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for the scheduler before giving up")
    g.add_argument("--json", metavar="PATH", help="write the table, every parameter included")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    dec.set_defaults(run=_decompose_command)

    val = sub.add_parser("validate", help="check every claim of the paper at small scale and write REPORT.md",
                         formatter_class=_HelpFormatter,
                         description="Run one check per claim of Li, Malladi & Arora (2021): Lemmas 4.6/4.7, "
                                     "Theorem 4.3, eq. (4), section 5.1 with Theorem 5.2, and Theorems 5.5/5.6. "
                                     "Prints measured values next to the paper's, writes REPORT.md, results.json "
                                     "and figures, and exits with status 1 if a claim fails.")
    val.add_argument("--quick", action="store_true", help="small settings (15-40 s on 2 cores with compiled kernels; full: about 10 minutes)")
    val.add_argument("--out", default="sdesim-validation",
                     help="folder for REPORT.md, results.json and figures/ (created if missing); the repository's "
                          "committed report is regenerated with --out validation")
    val.add_argument("--only", type=name_list, help="comma-separated claims to run (default: all): one_step_moments, "
                                                 "weak_order, decomposition, equilibrium, scaling_rule, adaptive_weak_order, "
                                                 "square_root_rule")
    val.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    add_dtype_argument(val)
    val.set_defaults(run=_validate_command)

    demo = sub.add_parser("demo", help="a teaching demonstration: its picture and the numbers in it, in seconds",
                          formatter_class=_HelpFormatter,
                          description="histograms: SGD, SVAG with growing l and the SDE at one time; double-well: "
                                      "sample paths under SGD and the SDE; stationary-gibbs: SGD's stationary law "
                                      "with anisotropic noise against the Lyapunov solution and Gibbs; weak-error: "
                                      "the log-log weak-error plot.")
    demo.add_argument("name", choices=tuple(DEMOS), help="which demonstration")
    demo.add_argument("--out", help="where to write the picture (.png, .pdf, .svg, …; default: NAME.png)")
    demo.add_argument("--paths", type=int, help="number of paths (default: the demonstration's own)")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    add_dtype_argument(demo)
    demo.set_defaults(run=_demo_command)

    again = sub.add_parser("rerun", help="repeat a converge study from its JSON record and compare the rows bit for bit",
                           formatter_class=_HelpFormatter,
                           description="Check the user functions' sources against the record's hashes, run the "
                                       "recorded command again and say whether every row equals the record's.")
    again.add_argument("record", metavar="RECORD.json", help="the JSON of `sdesim converge --json`")
    again.add_argument("--json", metavar="OUT", help="write the repeated study's record to OUT")
    again.set_defaults(run=_rerun_command)
    from sdesim.teach import add_parser as add_teach_parser   # the lessons' command, a layer above (as rerun)

    add_teach_parser(sub, _HelpFormatter)
    return parser


def _rerun_command(args) -> int:
    from sdesim.rerun import rerun

    return rerun(args.record, args.json)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # the command as run, for the record
    try:
        with interrupts.caught():   # SIGTERM stops like Ctrl-C, keeping what finished
            return args.run(args)
    except OutputError as err:    # the work is done, its output could not be written (sdesim.atomic)
        print(f"sdesim {args.command}: error: {err}", file=sys.stderr)
        return OUTPUT_FAILED
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"sdesim {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        return _interrupted(args, error)


if __name__ == "__main__":
    sys.exit(main())
