"""The problem and adaptive-method options the commands share: their parsing (``--problem``, ``--dim``, …,
``--beta1``, …) and the problem they build, refusing options the chosen problem does not take."""

from __future__ import annotations

import argparse
import inspect

import numpy as np

from sdesim._importable import import_named
from sdesim.estimators.record import user_functions
from sdesim.kernels.precision import DEFAULT_DTYPE, DTYPES
from sdesim.problems import NOISE_LAWS, PROBLEMS, SAMPLINGS, Problem, make_problem
from sdesim.problems.datasets import load_regression_data

# CLI option -> keyword of the problem constructors
PROBLEM_OPTIONS = {
    "dim": "dim", "batch_size": "batch_size", "weight_decay": "weight_decay", "noise": "noise",
    "sampling": "sampling", "n": "n", "barrier": "barrier", "noise_scale": "noise_scale",
}


def listed(text: str, kind, what: str) -> list:
    """The comma-separated values of ``text``, each read by ``kind``: at least one, or an error."""
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        values = None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what} (at least one), got {text!r}")
    return values


def float_list(text: str) -> list[float]:
    return listed(text, float, "numbers")


def int_list(text: str) -> list[int]:
    return listed(text, int, "integers")


def name_list(text: str) -> list[str]:
    return listed(text, str, "names")


def _problem_name(text: str) -> str:
    if text in PROBLEMS or ":" in text:
        return text
    raise argparse.ArgumentTypeError(f"unknown problem {text!r}; built in: {', '.join(sorted(PROBLEMS))}, "
                                     "or give module:factory for your own")


def add_problem_arguments(parser: argparse.ArgumentParser, default: str = "quadratic", *, noise: str | None = None,
                          x0: str | None = None) -> None:
    """The problem options; ``noise`` and ``x0`` say in the help what a command uses when they are not given."""
    g = parser.add_argument_group("problem")
    g.add_argument("--problem", default=default, type=_problem_name, metavar="{" + ",".join(sorted(PROBLEMS)) + "} or module:factory",
                   help="a built-in problem, or module:factory, a function of no arguments returning an sdesim "
                        "Problem, importable from the current directory or PYTHONPATH")
    g.add_argument("--dim", type=int, help="dimension d")
    g.add_argument("--batch-size", type=int, help="minibatch size B")
    g.add_argument("--weight-decay", type=float, help="weight decay λ (gradient of L + λ/2 |x|²)")
    g.add_argument("--noise", choices=NOISE_LAWS, help="noise law (quadratic, double_well); default: "
                   + (f"{noise} for this command" if noise else "the problem's (gaussian)"))
    g.add_argument("--sampling", choices=SAMPLINGS, help="minibatch sampling (linear_regression, scale_invariant)")
    g.add_argument("--n", type=int, help="examples in the synthetic data set (linear_regression, scale_invariant)")
    g.add_argument("--barrier", type=float, help="barrier height h (double_well)")
    g.add_argument("--noise-scale", type=float, help="noise standard deviation σ (double_well)")
    g.add_argument("--data", help="a .npz with arrays features and targets, or a CSV whose last column is the target")
    g.add_argument("--x0", type=float_list, help="start point, comma-separated (one number fills every entry); default: "
                   + (x0 or "the problem's (0, or e₁ for scale_invariant)"))


def problem_from_args(args, defaults=None):
    """Build the problem; options the chosen problem does not take are an error, not ignored.

    ``defaults`` are options applied when the user gave none and the problem takes them.
    """
    if ":" in args.problem:
        return _problem_from_factory(args)
    accepted = inspect.signature(PROBLEMS[args.problem]).parameters
    options = {k: v for k, v in (defaults or {}).items() if k in accepted}
    for option, keyword in PROBLEM_OPTIONS.items():
        value = getattr(args, option)
        if value is None:
            continue
        if keyword not in accepted:
            raise ValueError(f"--{option.replace('_', '-')} does not apply to problem {args.problem!r}")
        options[keyword] = value
    if args.data is not None:
        if "features" not in accepted:
            raise ValueError(f"--data does not apply to problem {args.problem!r}; it takes no data set")
        if "dim" in options or "n" in options:
            raise ValueError("--dim and --n come from the data file when --data is given; drop them")
        options["features"], options["targets"] = load_regression_data(args.data)
    problem = make_problem(args.problem, **options)
    return problem, _start_point(args, problem)


def _start_point(args, problem):
    x0 = None
    if args.x0 is not None:
        x0 = np.array(args.x0 * problem.dim if len(args.x0) == 1 else args.x0)
    return problem.start_point(x0)


def _problem_from_factory(args):
    """The problem a user's factory returns (``--problem module:factory``)."""
    given = [f"--{o.replace('_', '-')}" for o in (*PROBLEM_OPTIONS, "data") if getattr(args, o) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to a problem from a factory ({args.problem}); set them "
                         "in the factory")
    factory = import_named(args.problem, "--problem factory")
    if not callable(factory):
        raise ValueError(f"--problem {args.problem}: {type(factory).__name__} is not callable; give a function "
                         "of no arguments that returns an sdesim Problem")
    try:
        problem = factory()
    except Exception as error:   # the user's code: say whose it is
        raise ValueError(f"--problem {args.problem}: calling it with no arguments failed: "
                         f"{type(error).__name__}: {error}") from error
    if not isinstance(problem, Problem):
        raise ValueError(f"--problem {args.problem} returned {type(problem).__name__}, not an sdesim Problem "
                         "(build one with sdesim.problems.custom or a built-in constructor)")
    return problem, _start_point(args, problem)


def add_dtype_argument(group) -> None:
    """``--dtype``: the type the paths are held and stepped in (`sdesim.kernels.precision`)."""
    group.add_argument("--dtype", default=DEFAULT_DTYPE, choices=DTYPES,
                       help="the paths' floating-point type (statistics are float64 either way; float32: "
                            "docs/guide/float32.md; the adaptive methods run in float64 only)")


def adaptive_from_args(args) -> dict:
    """The adaptive methods' hyperparameters given on the command line (those left out take their defaults)."""
    given = {"beta1": args.beta1, "beta2": args.beta2, "eps": args.eps, "bias_correction": args.bias_correction,
             "v0": None if args.v0 is None else (args.v0[0] if len(args.v0) == 1 else args.v0)}
    return {name: value for name, value in given.items() if value is not None}


def add_adaptive_arguments(parser) -> None:
    g = parser.add_argument_group("adaptive methods (rmsprop, adam, paper_rmsprop and their _sde)")
    g.add_argument("--beta1", type=float, help="Adam's β₁ (default 0.9)")
    g.add_argument("--beta2", type=float, help="β₂, the decay of the second-moment average v (default: adam 0.999, "
                   "rmsprop 0.99)")
    g.add_argument("--eps", type=float, help="ε, added to √v (default 1e-8)")
    g.add_argument("--bias-correction", action=argparse.BooleanOptionalAction, default=None,
                   help="Adam's bias correction (default on; RMSprop has none, paper_rmsprop always)")
    g.add_argument("--v0", type=float_list, help="start of v, one number or one per coordinate (default 0)")


def problem_factory(args) -> dict:
    """The record of a ``--problem module:factory`` (its name and source hash); {} for a built-in problem."""
    return user_functions(factory=import_named(args.problem, "--problem factory")) if ":" in args.problem else {}
