"""Every refused input and what it is told, one table per area: input → exception → message.

Each message names what was wrong and what is allowed, and every refusal comes before any
path moves: the fixture ``no_paths_move`` makes `Run.blocks` (and the one-step moment
checks) fail if they are reached.  The one error that only a run can find, a user
observable changing length on a path, has a focused test at the end.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import user_observables
import user_problem
from sdesim import demos, simulate
from sdesim.cli import main
from sdesim.estimators import moment_checks
from sdesim.estimators.adaptive_moments import adaptive_moment_checks
from sdesim.estimators.moment_checks import moment_checks as sampled_moment_checks   # before no_paths_move patches it
from sdesim.estimators.weak_error import weak_error_study
from sdesim.kernels.guards import UserFunctionError
from sdesim.problems import custom, from_record, quadratic
from sdesim.problems.datasets import load_regression_data
from sdesim.simulate import Run

QUAD = quadratic(2)


@pytest.fixture
def no_paths_move(monkeypatch):
    def moved(*args, **kwargs):
        raise AssertionError("paths moved before the input was refused")

    monkeypatch.setattr(Run, "blocks", moved)
    monkeypatch.setattr(moment_checks, "moment_checks", moved)


def exit_status(argv) -> int:
    """``sdesim ARGV``'s exit status, argparse's own refusals (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as done:
        return done.code


# --- data files (sdesim.problems.datasets, --data) ---------------------------------------------------

NO_NUMBERS = "every line but an optional header \\(a first line of names, no numbers\\) must be numbers"
BAD_DATA_FILES = [
    ("r.csv", "1,2,3\n4,5\n", "r.csv: line 2 has 2 fields but line 1 has 3; every row needs the same columns"),
    ("r.csv", "1,2,3\n4,x,6\n", f"r.csv: line 2 holds 'x', which is not a finite number; {NO_NUMBERS}"),
    ("r.csv", "1,2,abc\n4,5,6\n", "r.csv: line 1 holds 'abc', which is not a finite number"),
    ("r.csv", "1,2,3\n4,5,\n", "r.csv: line 2 holds '', which is not a finite number"),
    ("r.csv", "1,2,3\n4,nan,6\n", "r.csv: line 2 holds 'nan', which is not a finite number"),
    ("r.csv", "a,b,y\n1,2,3\n# note\n4,x,6\n", "r.csv: line 4 holds 'x'.*\\(line 1 is read as the header\\)"),
    ("r.csv", "a,b\n1,2,3\n", "r.csv: the header on line 1 names 2 columns but line 2 has 3; they must match"),
    ("r.csv", "a,b,y\n", "r.csv holds only a header \\(line 1\\) and no rows of numbers"),
    ("r.csv", "", "r.csv holds no data: it needs rows of comma-separated numbers, the last column the target"),
    ("r.csv", "\n# only a comment\n", "r.csv holds no data"),
    ("r.csv", "1\n2\n", "r.csv needs at least two columns \\(features, then the target\\), got one"),
    ("r.csv", b"\xff\xfe\x00\x81", "r.csv is not a text file; a .csv holds comma-separated numbers"),
    ("r.npz", "1,2,3\n", "r.npz is not a NumPy .npz archive \\(a zip of arrays, as numpy.savez writes\\)"),
    ("r.txt", "1,2,3\n", "data file must be .npz \\(arrays features, targets\\) or .csv \\(last column the target\\), "
                         "got 'r.txt'"),
]


@pytest.mark.parametrize("name,content,message", BAD_DATA_FILES, ids=[m[:40] for _, _, m in BAD_DATA_FILES])
def test_bad_data_files_are_refused_naming_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message) as refused:
        load_regression_data(path)
    assert "pickle" not in str(refused.value)


@pytest.mark.parametrize("arrays,message", [
    (dict(features=np.ones((3, 2))), "must hold arrays 'features' and 'targets'; missing \\['targets'\\]"),
    (dict(features=np.array([[1.0, None]], dtype=object), targets=np.ones(1)),
     "array 'features' in .*r.npz is not numeric \\(it holds Python objects\\); save features and targets as arrays "
     "of numbers"),
])
def test_bad_npz_archives_are_refused(tmp_path, arrays, message):
    np.savez(tmp_path / "r.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_regression_data(tmp_path / "r.npz")


def test_a_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file '.*nothing.csv' does not exist"):
        load_regression_data(tmp_path / "nothing.csv")


def test_a_first_line_of_names_is_a_header_and_no_row_is_lost(tmp_path):
    (tmp_path / "h.csv").write_text("a1, a2, b\n1,2,3\n\n4,5,6  # a comment\n")
    features, targets = load_regression_data(tmp_path / "h.csv")
    np.testing.assert_array_equal(features, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(targets, [3.0, 6.0])


def test_cli_with_a_short_row_exits_2_and_writes_nothing(tmp_path, capsys, no_paths_move):
    (tmp_path / "r.csv").write_text("1,2,3\n4,5\n")
    argv = ["simulate", "--problem", "linear_regression", "--data", str(tmp_path / "r.csv"),
            "--json", str(tmp_path / "r.json")]
    assert exit_status(argv) == 2
    assert "line 2 has 2 fields but line 1 has 3" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


# --- custom problems (sdesim.problems.custom) ----------------------------------------------------------


@numba.njit
def mean_grad_without_data(x, out):
    out[:] = x


@numba.njit
def init_state_without_pstate(data, rng):
    return None


@numba.njit
def sample_grad_reading_missing_data(x, data, rng, pstate, out):
    out[0] = data[1]


@numba.njit
def mean_grad_first_entry_only(x, data, out):
    out[0] = 1.0


@numba.njit
def noise_factor_first_column_only(x, data, out):
    for j in range(x.shape[0]):
        out[j, 0] = 1.0


@numba.njit
def sample_grad_first_entry_only(x, data, rng, pstate, out):
    out[0] = 1.0


@numba.njit
def mean_grad_infinite(x, data, out):
    for j in range(x.shape[0]):
        out[j] = np.inf


@numba.njit
def loss_returning_an_array(x, data):
    return x * x


@numba.njit
def loss_returning_nothing(x, data):
    return None


@numba.njit
def loss_nan(x, data):
    return np.nan


UNWRITTEN = "\\(out is filled with NaN before the call, so an entry it never wrote shows as NaN: it must write every entry of out"
BAD_CUSTOM = [
    (dict(mean_grad=mean_grad_without_data), TypeError,
     "mean_grad of problem 'bad' failed when called as mean_grad\\(x, data, out\\) at x0 = \\[0. 0.\\]: TypeError"),
    (dict(init_state=init_state_without_pstate), TypeError,
     "init_state of problem 'bad' failed when called as init_state\\(data, rng, pstate\\)"),
    (dict(sample_grad=sample_grad_reading_missing_data), TypeError,
     "sample_grad of problem 'bad' failed when called as sample_grad\\(x, data, rng, pstate, out\\) .*: TypingError"),
    (dict(mean_grad=mean_grad_first_entry_only), ValueError,
     f"mean_grad of problem 'bad' returned a non-finite value at x0 = \\[0. 0.\\]: out\\[1\\] = nan {UNWRITTEN}"
     ", shape \\(2,\\)"),
    (dict(noise_factor=noise_factor_first_column_only), ValueError,
     f"noise_factor of problem 'bad' .*: out\\[0, 1\\] = nan {UNWRITTEN}, shape \\(2, 2\\)"),
    (dict(sample_grad=sample_grad_first_entry_only), ValueError, f"sample_grad of problem 'bad' .*: out\\[1\\] = nan {UNWRITTEN}"),
    (dict(mean_grad=mean_grad_infinite), ValueError, "mean_grad of problem 'bad' returned a non-finite value .*: out\\[0\\] = inf$"),
    (dict(loss=loss_returning_an_array), TypeError,
     "loss of problem 'bad' must return a number L\\(x\\), got an array of shape \\(2,\\)"),
    (dict(loss=loss_returning_nothing), TypeError, "loss of problem 'bad' must return a number L\\(x\\), got NoneType"),
    (dict(loss=loss_nan), ValueError, "loss of problem 'bad' returned a non-finite value at x0 = \\[0. 0.\\]: nan"),
    (dict(loss=lambda x, data: 0.0), TypeError, "loss must be a numba-compiled function \\(decorate it with @numba.njit\\)"),
]


@pytest.mark.parametrize("functions,error,message", BAD_CUSTOM, ids=[m[:40] for _, _, m in BAD_CUSTOM])
def test_bad_custom_functions_are_named(functions, error, message):
    good = dict(sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
                noise_factor=user_problem.noise_factor, loss=user_problem.loss)
    with pytest.raises(error, match=message):
        custom("bad", 2, data=(1.0,), **{**good, **functions})


# --- simulate and its plan (sdesim.simulate, sdesim.methods) -----------------------------------------


@numba.njit
def two_arguments(x, y):
    return x[0] + y


@numba.njit
def nothing_of(x):
    return x[:0]


@numba.njit
def first(x):
    return x[0]


BAD_SIMULATE = [
    (dict(method="sgd", scheme="exact"), ValueError,
     "scheme 'exact' applies only to method 'sde', not 'sgd', which has one step of its own; leave scheme at 'euler'"),
    (dict(method="svag", l=4, scheme="exact"), ValueError, "scheme 'exact' applies only to method 'sde', not 'svag'"),
    (dict(method="ngd", scheme="exact"), ValueError, "scheme 'exact' applies only to method 'sde', not 'ngd'"),
    (dict(method="sgd", scheme="milstein"), ValueError, "unknown scheme 'milstein'; allowed: 'euler', 'exact'"),
    (dict(paths=10, keep_paths=20), ValueError,
     "keep_paths \\(20\\) must be at most paths \\(10\\): only paths that run can be kept"),
    (dict(keep_paths=-1), ValueError, "keep_paths must be a non-negative integer, got -1"),
    (dict(observables="norm2"), TypeError,
     "observables must be a list of names, e.g. \\['norm2'\\], got the string 'norm2'"),
    (dict(user_observables=[first]), TypeError,
     "user_observables must be a dict {name: compiled function of x}, got list"),
    (dict(user_observables={"w": two_arguments}), TypeError,
     "user observable 'w' failed when called as w\\(x\\) at x0 = \\[0. 0.\\]: TypeError"),
    (dict(user_observables={"e": nothing_of}), ValueError,
     "user observable 'e' must return a number or a 1-d array of at least one entry, got shape \\(0,\\)"),
]


# a step that fits zero times, or not a whole number of times, into a recorded time; dt with l (issue 21)
BAD_SIMULATE += [
    (dict(method="sde", dt=1e12), ValueError, "the step dt = 1e\\+12 is longer than the time of effective step 4 "
     "\\(t = 4·η = 0.4\\): it fits zero times, and zero steps would report the start values there"),
    (dict(method="rmsprop_sde", dt=1e12), ValueError, "dt = 1e\\+12 is longer than the time of effective step 4 "
     "\\(t = 4·η² = 0.04\\): it fits zero times"),
    (dict(method="sde", dt=0.3), ValueError, "the time of effective step 4 \\(t = 4·η = 0.4\\) is not a whole number "
     "of steps dt = 0.3 \\(1.33333 steps\\), and a recorded time is never rounded; choose a dt that divides"),
    (dict(method="sde", dt=0.2, checkpoints=[1, 4]), ValueError, "dt = 0.2 is longer than the time of effective "
     "step 1 \\(t = 1·η = 0.1\\): it fits zero times"),
    (dict(method="sde", l=4, dt=0.01), ValueError, "l = 4 does not apply with dt: dt is the step itself"),
    (dict(method="rmsprop", beta2=-1e-9), ValueError, "beta2 must lie in \\[0, 1\\) \\(an exponential average's "
     "decay\\), got -1e-09"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_SIMULATE, ids=[m[:40] for _, _, m in BAD_SIMULATE])
def test_bad_simulate_arguments_are_refused_before_any_path_moves(kwargs, error, message, no_paths_move):
    with pytest.raises(error, match=message):
        simulate(QUAD, **{"method": "sgd", "steps": 4, "paths": 100, **kwargs})


# --- the command line ----------------------------------------------------------------------------------

BAD_COMMANDS = [
    (["simulate", "--method", "svag", "--l", "2", "--scheme", "exact"],
     "sdesim simulate: error: scheme 'exact' applies only to method 'sde', not 'svag'"),
    (["simulate", "--observables", ""], "argument --observables: expected comma-separated names \\(at least one\\), got ''"),
    (["simulate", "--checkpoints", ","], "argument --checkpoints: expected comma-separated integers \\(at least one\\)"),
    (["moments", "--l", ""], "argument --l: expected comma-separated integers \\(at least one\\), got ''"),
    (["moments", "--l", "1,two"], "argument --l: expected comma-separated integers \\(at least one\\), got '1,two'"),
    (["moments", "--x", "1", "--x0", "3"],
     "sdesim moments: error: --x 1,1 and --x0 3,3 name different points; the moments are checked at one point: "
     "give --x or --x0"),
    (["converge", "--l", ""], "argument --l: expected comma-separated integers \\(at least one\\)"),
    (["converge", "--json", "w.png", "--plot", "w"],    # .png is added to the picture's name: the same file
     "sdesim converge: error: --json 'w.png' and --plot 'w.png' are the same file; give each output its own file"),
    (["converge", "--json", "w.svg", "--plot", "./w.svg"], "--json 'w.svg' and --plot 'w.svg' are the same file"),
    (["demo", "histograms", "--paths", "1"],
     "sdesim demo: error: paths must be at least 100 for demonstration 'histograms', got 1"),
    # issue 21: negative values reach the range checks (argparse took them for options) ...
    (["simulate", "--method", "rmsprop", "--eps", "-1e-8"], "sdesim simulate: error: eps \\(ε, added to √v\\) must be "
     "finite and > 0, got -1e-08"),
    (["simulate", "--method", "rmsprop", "--beta2", "-1e-9"], "sdesim simulate: error: beta2 must lie in \\[0, 1\\)"),
    (["converge", "--l", "-1,2,4"], "sdesim converge: error: l values must be integers >= 1, got -1"),
    (["simulate", "--lr", "-inf"], "sdesim simulate: error: lr \\(the learning rate η\\) must be finite and > 0, "
     "got -inf"),
    # ... options that do not apply are refused, not ignored ...
    (["converge", "--scheduler-timeout", "5"], "sdesim converge: error: --scheduler-timeout does not apply without "
     "--scheduler ADDRESS"),
    (["decompose", "--scheduler-timeout", "5"], "sdesim decompose: error: --scheduler-timeout does not apply without "
     "--scheduler ADDRESS"),
    (["converge", "--euler-factor", "4"], "sdesim converge: error: euler_factor applies only to the Euler–Maruyama "
     "reference \\(reference 'euler', or 'auto' with an adaptive method\\); this study's references are exact"),
    (["converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--paths", "500", "--seed", "3"],
     "sdesim converge: error: --paths, --seed do not apply with --exact: exact moments draw no paths"),
    (["converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--euler-factor", "4"],
     "sdesim converge: error: --euler-factor does not apply with --exact"),
    (["simulate", "--method", "sde", "--l", "4", "--dt", "0.01"],
     "sdesim simulate: error: l = 4 does not apply with dt"),
    # ... a folder given as data, a step that fits zero times, a fit range with no level: clear errors, no work
    (["simulate", "--problem", "linear_regression", "--data", str(Path(__file__).parent)],
     "sdesim simulate: error: data file '.*' is a folder; give a file"),
    (["simulate", "--method", "sde", "--dt", "1e12", "--steps", "5"],
     "sdesim simulate: error: the step dt = 1e\\+12 is longer than the time of effective step 5"),
    (["simulate", "--method", "rmsprop_sde", "--dt", "1e12", "--steps", "5"],
     "sdesim simulate: error: the step dt = 1e\\+12 is longer than the time of effective step 5"),
    (["converge", "--fit-from", "100"], "sdesim converge: error: fit_from = 100 is above every l of the sweep "
     "\\(1, 2, 4, 8, 16, 32, 64\\): the fit would have no level; give fit_from at most 64"),
    (["converge", "--reference", "extrapolation", "--l", "1,2,4"], "sdesim converge: error: reference 'extrapolation' "
     "takes the two finest l \\(2, 4\\) out of the fit, which leaves no l ≥ fit_from = 2 of the sweep \\(1, 2, 4\\)"),
]


@pytest.mark.parametrize("argv,message", BAD_COMMANDS, ids=[" ".join(a)[:40] for a, _ in BAD_COMMANDS])
def test_bad_commands_exit_2_with_a_message(argv, message, capsys, no_paths_move):
    assert exit_status(argv) == 2
    assert re.search(message, capsys.readouterr().err)


BAD_STUDIES = [   # weak_error_study: a fit range with no level, an Euler factor without an Euler reference
    (dict(fit_from=100), "fit_from = 100 is above every l of the sweep \\(1, 2, 4\\)"),
    (dict(reference="extrapolation"), "reference 'extrapolation' takes the two finest l \\(2, 4\\) out of the fit"),
    (dict(reference="extrapolation", fit_from=8), "fit_from = 8 is above every l of the sweep"),
    (dict(euler_factor=4), "euler_factor applies only to the Euler–Maruyama reference"),
    (dict(euler_factor=4, exact=True), "euler_factor applies only to the Euler–Maruyama reference; exact=True"),
    (dict(fit_from=100, exact=True), "fit_from = 100 is above every l of the sweep"),
]


@pytest.mark.parametrize("kwargs,message", BAD_STUDIES, ids=[m[:40] for _, m in BAD_STUDIES])
def test_bad_studies_are_refused_before_any_path_moves(kwargs, message, no_paths_move):
    with pytest.raises(ValueError, match=message):
        weak_error_study(QUAD, **{"lr": 0.2, "time": 0.4, "tests": ("norm2",), "l_values": (1, 2, 4), "paths": 200,
                                  **kwargs})


@pytest.mark.parametrize("argv,x", [
    (["--x0", "3"], [3.0, 3.0]),
    (["--x0", "3,-1"], [3.0, -1.0]),
    (["--x", "3", "--x0", "3"], [3.0, 3.0]),
    (["--x", "2,-1"], [2.0, -1.0]),
    ([], None),
])
def test_moments_runs_at_x0_when_x_is_not_given(argv, x, monkeypatch, capsys):
    seen = {}

    class Check:
        passed = True

        def table(self):
            return "table"

        def to_dict(self):
            return {}

    def record(problem, *, x, **options):
        seen["x"] = x
        return Check()

    monkeypatch.setattr(moment_checks, "moment_checks", record)
    assert main(["moments", *argv]) == 0
    if x is None:
        assert seen["x"] is None       # moment_checks then takes the problem's start point
    else:
        np.testing.assert_array_equal(seen["x"], x)


# --- refusals in constant time: 10¹⁵ paths, under a 1 GiB address-space limit ---------------------------

CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from sdesim.cli import main
rss, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "grew_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss}))
"""
HUGE = str(10**15)


@pytest.mark.parametrize("argv", [["simulate", "--paths", HUGE], ["simulate", "--method", "svag", "--l", "4", "--paths", HUGE],
                                  ["converge", "--paths", HUGE, "--plot", "none"], ["decompose", "--paths", HUGE],
                                  ["moments", "--paths", HUGE], ["moments", "--method", "adam", "--paths", HUGE]],
                         ids=lambda a: " ".join(a[:3]))
def test_a_run_too_large_is_refused_at_once_with_little_memory(argv):
    """Before: simulate built a list of every chunk of paths (1.9 GB at 10¹², killed at 10¹⁵) and moments
    allocated the samples (a MemoryError traceback).  Now each refuses from its estimate, the work and the
    memory of the run untouched: a refusal takes about 0.05-0.6 s here and a few MB beyond the modules it
    imports (simulate 6 MB, the studies ~50 MB of estimator modules); the bounds below leave room for a busy machine."""
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=120)
    assert "would need" in done.stderr, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["code"] == 2
    assert measured["seconds"] < 5 and measured["grew_kib"] < 150 * 1024, measured


def test_the_moment_checks_refuse_samples_too_large_before_drawing_them(monkeypatch):
    """Before: numpy's MemoryError (a traceback) at 10¹⁵; at 10⁹ the samples were drawn, 16 GB and more."""
    def drawn(*args, **kwargs):
        raise AssertionError("samples drawn before the input was refused")

    monkeypatch.setattr(moment_checks, "_svag_samples", drawn)
    monkeypatch.setattr("sdesim.estimators.adaptive_moments.adaptive_svag_increments", drawn)
    for call in (lambda: sampled_moment_checks(QUAD, paths=10**15),
                 lambda: adaptive_moment_checks(quadratic(2, noise="rademacher"), "adam", paths=10**15)):
        with pytest.raises(ValueError, match="10+ sampled increments per row in 2 dimensions would need .* Use "
                                             "fewer paths"):
            call()


# --- demonstrations (sdesim.demos) ---------------------------------------------------------------------

BAD_DEMOS = [
    (lambda: demos.histograms(paths=1), "paths must be at least 100 for demonstration 'histograms', got 1: its "
                                        "numbers carry standard errors and its picture shows histograms"),
    (lambda: demos.histograms(paths=0), "paths must be a positive integer, got 0"),
    (lambda: demos.double_well_paths(paths=50, shown=3), "at least 100 for demonstration 'double-well', got 50"),
    (lambda: demos.stationary_gibbs(paths=99), "at least 100 for demonstration 'stationary-gibbs', got 99"),
    (lambda: demos.weak_error(paths=2), "at least 100 for demonstration 'weak-error', got 2"),
    (lambda: demos.noise_sum(paths=10), "at least 100 for demonstration 'noise-sum', got 10"),
    (lambda: demos.noise_sum(noise="cauchy"), "unknown noise law 'cauchy'; allowed: 'gaussian', 'rademacher', "
                                              "'exponential'"),
    (lambda: demos.noise_sum(steps=0), "steps must be a positive integer, got 0"),
    (lambda: demos.noise_sum_moments("exponential", 4, -0.1), "lr must be"),
    (lambda: demos.noise_sum_samples(lr=0.1, steps=10, noise="gaussian", paths=200, every=3),
     r"every \(3\) must divide steps \(10\)"),
    (lambda: demos.histograms(noise="uniform"), "unknown noise law 'uniform'; allowed: 'gaussian'"),
    (lambda: demos.svag_skew(l_values=()), "l_values must name at least one l"),
    (lambda: demos.svag_skew(lr=0.3), "whole number"),
    (lambda: demos.svag_skew_limit(0.5, 1.0, noise="skewed"), "unknown noise law 'skewed'"),
    (lambda: demos.anisotropic_noise(1.5), r"anisotropy must be a number in \[0, 1\] \(0: isotropic noise, 1: "
                                           r"Σ₀\), got 1.5"),
    (lambda: demos.gibbs_gap("high"), "anisotropy must be a number in"),
    (lambda: demos.gibbs_gap(0.5, lr=0.6), "no stationary law"),
    (lambda: demos.gibbs_gap(0.5, base=np.eye(3)), r"base must be 2×2, got shape \(3, 3\)"),
]


@pytest.mark.parametrize("call,message", BAD_DEMOS, ids=[m[:40] for _, m in BAD_DEMOS])
def test_demos_refuse_too_few_paths_before_any_work(call, message, no_paths_move):
    with pytest.raises(ValueError, match=message):
        call()


# --- found only by running: a user observable that changes length --------------------------------------


@numba.njit
def positive_entries(x):
    return x[x > 0]


def test_a_user_observable_that_changes_length_on_a_path_stops_the_run():
    """One positive entry at x0 = (1, −3); the paths head for (1, 1), where both are positive.

    The kernel writes no entry of a wrong-length result (a copy would fail inside the parallel
    loop, where numba cannot raise cleanly) and flags it; the run then raises, with no result.
    """
    with pytest.raises(ValueError, match="user observable 'positive' returned an array of length 1 at x0 but one of "
                                         "another length at t = 2 on a path; it must return one length at every x"):
        simulate(QUAD, "sgd", lr=0.1, steps=20, paths=64, seed=0, x0=[1.0, -3.0],
                 user_observables={"positive": positive_entries, "first": first})


# --- found only by running: user functions that write into x, return NaN or raise ----------------------

# quadratic(2) heads for (1, 1) (Hessian diag(1, 2)): from x0 = (−5, −5) both entries stay negative for 4
# steps of lr 0.1; from (−3, −300) x₀ turns positive by step 20 and x₁ does not; from (−30, −3) the reverse
MISBEHAVING = dict(method="sgd", lr=0.1, paths=64, seed=0, user_observables=user_observables.ALL)


def test_a_user_observable_that_writes_into_x_leaves_the_paths_alone():
    """It writes into its own copy: the paths, and the functions after it, see x as the step left it."""
    ran = simulate(QUAD, steps=4, x0=[-5.0, -5.0], checkpoints=[0, 1, 2, 3], keep_paths=4, **MISBEHAVING)
    plain = simulate(QUAD, **{**MISBEHAVING, "user_observables": None}, steps=4, x0=[-5.0, -5.0],
                     checkpoints=[0, 1, 2, 3], keep_paths=4)
    np.testing.assert_array_equal(ran.mean("x"), plain.mean("x"))
    np.testing.assert_array_equal(ran.kept_paths, plain.kept_paths)
    for name in ("scribble", "first"):
        np.testing.assert_array_equal(ran.mean(name), plain.mean("x")[:, 0])
    assert ran.diverged == 0 and np.all(plain.mean("x") < 0)


def test_a_nan_from_a_user_observable_stops_the_run_naming_it_and_is_no_divergence():
    with pytest.raises(ValueError, match="observable 'log_of_minus_first' \\(user_observables:log_of_minus_first\\) "
                                         "returned NaN at t = 2 on 64 of 64 paths, where x was finite: a NaN is the "
                                         "function's, not a divergence of the paths"):
        simulate(QUAD, steps=20, x0=[-3.0, -300.0], **MISBEHAVING)


def test_a_nan_test_function_stops_the_study_naming_it():
    from sdesim.estimators.weak_error import weak_error_study

    with pytest.raises(ValueError, match="observable 'log_of_minus_first' \\(user_observables:log_of_minus_first\\) "
                                         "returned NaN at t = "):
        weak_error_study(QUAD, lr=0.1, time=2.0, user_tests=user_observables.ALL, l_values=[1, 2, 4], paths=128,
                         x0=[-3.0, -300.0], seed=0, reference="extrapolation", fit_from=1)


def test_an_exception_in_a_user_observable_names_it_its_module_and_line(recwarn):
    with pytest.raises(UserFunctionError, match="^observable 'checked_second' \\(user_observables:checked_second, "
                                                ".*user_observables.py:31\\) raised ValueError: x\\[1\\] must stay "
                                                "negative while the paths ran, so this run has no result$"):
        simulate(QUAD, steps=20, x0=[-30.0, -3.0], **MISBEHAVING)
    # the kernels have no parallel loop for an exception to leave serially (sdesim.kernels.drivers): no warning
    assert not [w for w in recwarn if "can raise an exception" in str(w.message) or "prange" in str(w.message)]
    assert all("NumbaPerformanceWarning" not in w.category.__name__ for w in recwarn)


@numba.njit
def loss_nan_beyond_zero(x, data):
    """The quartic's loss, NaN once x₀ > 0."""
    return np.nan if x[0] > 0.0 else user_problem.loss(x, data)


def test_a_nan_from_a_problems_loss_stops_the_run_naming_it():
    problem = custom("quartic", 2, sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
                     noise_factor=user_problem.noise_factor, loss=loss_nan_beyond_zero, data=(0.1,), x0=[-0.5, 0.5])
    with pytest.raises(ValueError, match="observable 'loss', from the loss of problem 'quartic' "
                                         "\\(test_bad_input:loss_nan_beyond_zero\\), returned NaN at t = 0.5 on \\d+ "
                                         "of 64 paths, where x was finite"):
        simulate(problem, "sgd", lr=0.1, steps=10, paths=64, seed=0, x0=[0.5, 0.5], checkpoints=[5],
                 observables=["x", "loss"])


# --- user modules that do not import (--problem, --test, --reference module:name; sdesim.problems.from_record) ---

BAD_MODULES = [
    ("def make(:\n    pass\n", "a syntax error in .*broken_mod.py, line 1: invalid syntax"),
    ("raise RuntimeError('no config file')\n", "importing it raised RuntimeError: no config file \\(at "
                                               ".*broken_mod.py, line 1\\)"),
    ("import not_installed_anywhere\n", "it imports 'not_installed_anywhere', which is not installed or not found "
                                        "\\(a missing dependency\\)"),
    (None, "no such module in the current directory or on PYTHONPATH"),
]


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "broken_mod", raising=False)
    return tmp_path


@pytest.mark.parametrize("source,reason", BAD_MODULES, ids=["syntax", "raises", "dependency", "missing"])
@pytest.mark.parametrize("option", ["--problem", "--test"])
def test_a_user_module_that_does_not_import_exits_2_naming_it_and_why(source, reason, option, module_dir, capsys,
                                                                      no_paths_move):
    if source is not None:
        (module_dir / "broken_mod.py").write_text(source)
    command = "simulate" if option == "--problem" else "converge"
    assert exit_status([command, option, "broken_mod:make"]) == 2
    what = "--problem factory" if option == "--problem" else "--test function"
    assert re.fullmatch(f"sdesim {command}: error: {what} 'broken_mod:make': module 'broken_mod' could not be "
                        f"imported: {reason}\n", capsys.readouterr().err)


@pytest.mark.parametrize("source,reason", BAD_MODULES, ids=["syntax", "raises", "dependency", "missing"])
def test_the_python_api_names_a_user_module_that_does_not_import(source, reason, module_dir):
    if source is not None:
        (module_dir / "broken_mod.py").write_text(source)
    with pytest.raises(ImportError, match=f"^module 'broken_mod' could not be imported: {reason}$"):
        from_record({"name": "mine", "params": {"functions": {"drift": "broken_mod:drift",
                                                              "diffusion": "broken_mod:diffusion"}, "data": []}})


def test_a_file_path_for_a_module_exits_2_saying_to_give_its_name(module_dir, capsys, no_paths_move):
    assert exit_status(["simulate", "--problem", "./broken_mod.py:make"]) == 2
    assert ("module './broken_mod.py': give a module's name (my_module for my_module.py, importable from the current "
            "directory or PYTHONPATH), not a file path") in capsys.readouterr().err
