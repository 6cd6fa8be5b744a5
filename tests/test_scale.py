"""Memory and scale (issue 10): nothing lost, nothing silently wrong.

The least-squares form is built only when used and refused when it would not fit; runs
estimate their work and memory up front and refuse what cannot fit before any path moves;
an unreachable scheduler, an unwritable kernel cache and a diverging study each give one
clear message.  Memory tests are cheap: they check estimates, refusals and lazy builds
(with tracemalloc, or with the machine's memory patched small), never run big jobs.
"""

import os
import pickle
import subprocess
import sys
import time
import tracemalloc
import warnings

import numba
import numpy as np
import pytest

import sdesim
import sdesim._checks as checks
from sdesim.cli import main
from sdesim.estimators.decomposition import decompose
from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.weak_error import weak_error_study
from sdesim.executors import connect, execute, split
from sdesim.kernels import build
from sdesim.kernels.stats import BlockStats
from sdesim.problems import linear_regression, quadratic
from sdesim.problems.base import ProblemFunctions
from sdesim.footprint import Footprint, progress_bar
from sdesim.simulate import Run

GiB = 2**30


@pytest.fixture
def small_machine(monkeypatch):
    """This machine, as if it had ``size`` bytes of memory free (call with the size)."""
    def patch(size):
        monkeypatch.setattr(checks, "available_memory", lambda: size)
    return patch


@pytest.fixture
def no_paths_move(monkeypatch):
    """Fail the test if any path is run."""
    def moved(self, *args, **kwargs):
        raise AssertionError("a path moved before the refusal")
    monkeypatch.setattr(Run, "blocks", moved)


def regression_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


# --- 1. the least-squares form: built when used, refused when it would not fit ---------------------

def test_linear_regression_does_not_build_its_form_until_used():
    a, b = regression_data(2000, 100)      # the n×d×d form: 160 MB
    tracemalloc.start()
    try:
        problem = linear_regression(a, b, batch_size=16)
        assert problem.has_linear_quadratic
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"building the problem took {peak / 2**20:.0f} MiB"
    assert "linear_quadratic" not in vars(problem)


def test_the_form_of_a_20000_by_300_data_set_is_refused_with_its_size(small_machine):
    small_machine(4 * GiB)
    a, b = regression_data(20000, 300)
    tracemalloc.start()
    try:
        problem = linear_regression(a, b, batch_size=32)
        peak = tracemalloc.get_traced_memory()[1]
        with pytest.raises(ValueError) as error:
            problem.linear_quadratic
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    message = str(error.value)
    for part in ("n = 20000", "d = 300", "would need 13.5 GiB", "the limit is 4.0 GiB", "memory available",
                 "control_variates=False"):
        assert part in message, message
    with pytest.raises(ValueError, match=r"exact moments of problem 'linear_regression' in d = 300 .*243\.0 GiB"):
        ExactMoments(problem, 0.1)


def test_a_study_with_control_variates_refuses_what_does_not_fit_before_any_path_moves(
        small_machine, no_paths_move):
    small_machine(100 * 2**20)
    settings = dict(lr=0.01, time=0.02, tests=("norm4",), l_values=(1, 2, 4), paths=100, fit_from=1)
    problem = linear_regression(*regression_data(20000, 30), batch_size=32)   # the form: 142 MiB
    with pytest.raises(ValueError, match=r"form of least squares on n = 20000 examples in d = 30 .* would need "
                                         r"141\.9 MiB; the limit is 100\.0 MiB .*--no-control-variates"):
        weak_error_study(problem, **settings)
    problem = linear_regression(*regression_data(20000, 300), batch_size=32)  # the controls' co-moments alone
    with pytest.raises(ValueError, match=r"this study's statistics .* would need 184\.7 GiB"):
        weak_error_study(problem, **settings)


def test_the_lazy_form_is_the_eager_one_bit_for_bit_and_is_built_once():
    a, b = regression_data(50, 3)
    problem = linear_regression(a, b, batch_size=5)
    form = problem.linear_quadratic
    n = len(b)
    h = a.T @ a / n
    np.testing.assert_array_equal(form.hessian, h)
    np.testing.assert_array_equal(form.rows, np.einsum("ni,nj->nij", a, a) - h)
    np.testing.assert_array_equal(form.cols, a * b[:, None] - a.T @ b / n)
    assert problem.linear_quadratic is form
    assert not linear_regression(a, b, batch_size=5, sampling="reshuffle").has_linear_quadratic
    assert quadratic(2).linear_quadratic.rows.shape == (0, 2, 2)


def test_a_pickled_problem_leaves_its_built_form_behind():
    cloudpickle = pytest.importorskip("cloudpickle")
    problem = linear_regression(*regression_data(400, 10), batch_size=8)
    small = len(cloudpickle.dumps(problem))
    form = problem.linear_quadratic                        # 400×10×10 numbers: 320 kB
    assert len(cloudpickle.dumps(problem)) == small < form.rows.nbytes
    again = pickle.loads(cloudpickle.dumps(problem))
    np.testing.assert_array_equal(again.linear_quadratic.rows, form.rows)


# --- 2. work and memory estimated up front -------------------------------------------------------

def test_a_trillion_paths_are_refused_before_any_path_moves(no_paths_move):
    with pytest.raises(ValueError) as error:
        sdesim.simulate(quadratic(2), "sgd", steps=100, paths=10**12)
    message = str(error.value)
    for part in ("1000000000000 paths of sgd", "1e+14 path-steps", "would need", "GiB", "the limit is",
                 "memory available on this machine", "fewer paths"):
        assert part in message, message


def test_the_command_line_refuses_a_trillion_paths(no_paths_move, capsys):
    assert main(["simulate", "--paths", "1000000000000"]) == 2
    assert "path-steps) would need" in capsys.readouterr().err


def test_a_decomposition_too_large_for_memory_is_refused_before_any_path_moves(no_paths_move):
    with pytest.raises(ValueError, match=r"paths in all, over 10 levels \(.* path-steps\) would need .* the limit is"):
        decompose(quadratic(2), paths=10**12)


def test_the_study_checks_its_statistics_against_the_machine_too(small_machine):
    small_machine(2**20)
    with pytest.raises(ValueError, match=r"this study's statistics .* the limit is 1\.0 MiB \(the memory available"):
        weak_error_study(quadratic(2), paths=100_000, block_size=2)
    small_machine(None)   # a system that does not say: the study's own cap still holds
    with pytest.raises(ValueError, match=r"the limit is 4\.0 GiB \(the most statistics a study may hold\)"):
        weak_error_study(quadratic(2), time=10, paths=10**10)


def test_kept_paths_that_would_not_fit_are_refused_before_they_are_allocated(small_machine):
    small_machine(GiB)
    with pytest.raises(ValueError, match=r"keeping 100000000 paths at 101 points each would need 150\.5 GiB"):
        Run(quadratic(2), steps=100, keep_paths=10**8, keep_every=1)


def test_the_footprint_counts_path_steps_and_bounds_the_memory_a_run_takes():
    run = Run(quadratic(2), "svag", l=4, steps=10, checkpoints=range(11), block_size=1)
    footprint = run.footprint(3000)
    assert footprint.path_steps == 3000 * 40
    stats = BlockStats.nbytes_for(3000, 11, run.layout.size)
    empty = BlockStats.empty(3000, 11, run.layout.size)
    assert stats == sum(getattr(empty, f).nbytes for f in BlockStats.FIELDS)
    sdesim.simulate(quadratic(2), "svag", l=4, steps=10, checkpoints=range(11), paths=64, block_size=1)  # compiled
    tracemalloc.start()
    try:
        sdesim.simulate(quadratic(2), "svag", l=4, steps=10, checkpoints=range(11), paths=3000, block_size=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stats < peak <= footprint.memory


class RecordingBar:
    bars = []

    def __init__(self, total, desc, unit, unit_scale):
        self.total, self.desc, self.unit, self.n, self.postfix = total, desc, unit, 0, ""
        RecordingBar.bars.append(self)

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def update(self, n):
        self.n += n

    def close(self):
        pass


def test_progress_bars_count_path_steps_and_show_the_memory_estimate(monkeypatch):
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    RecordingBar.bars = []
    sdesim.simulate(quadratic(2), "svag", l=4, steps=10, paths=3000, progress=True)
    problem = quadratic(2)
    runs = {("svag", l): Run(problem, "svag", l=l, steps=10) for l in (1, 2)}
    tasks = [t for label, run in runs.items() for t in split(label, run, dict(method="svag", l=label[1], steps=10),
                                                               3000)]
    execute(problem, tasks, runs, progress=True, desc="levels")
    single, study = RecordingBar.bars
    assert (single.total, single.n, single.unit) == (3000 * 40, 3000 * 40, "path-step")
    assert (study.total, study.n) == (3000 * 10 + 3000 * 20, 3000 * 30)
    assert "memory ≈" in single.postfix and "memory ≈" in study.postfix
    bar = progress_bar(Footprint(10, 2 * GiB, 0), "x")
    assert bar.total == 10 and bar.postfix == "memory ≈ 2.0 GiB"


def test_format_bytes_and_the_memory_reading():
    assert [checks.format_bytes(v) for v in (512, 48e6, 14.4e9, 3 * 2**50)] == [
        "512 B", "45.8 MiB", "13.4 GiB", "3.0 PiB"]
    room = checks.available_memory()
    assert room is None or 2**20 < room < 2**60


# --- 3. an unreachable scheduler -----------------------------------------------------------------

def test_an_unreachable_scheduler_gives_a_clear_error_within_its_timeout():
    pytest.importorskip("distributed")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:1' \(waited 0\.5 s"):
        connect("tcp://127.0.0.1:1", timeout=0.5)
    assert time.perf_counter() - start < 15
    with pytest.raises(ValueError, match=r"scheduler timeout \(seconds\) must be finite and > 0, got 0"):
        connect("tcp://127.0.0.1:1", timeout=0)


@pytest.mark.parametrize("command", ["converge", "decompose"])
def test_the_commands_with_a_scheduler_take_a_timeout(command, capsys):
    pytest.importorskip("distributed")
    assert main([command, "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sdesim {command}: error: cannot reach the Dask scheduler") and "Traceback" not in err


# --- 4. the kernel cache: unwritable folders, stale uncached kernels -------------------------------

def unwritable_folder(tmp_path, how):
    """A cache folder that cannot be written: under a file (for everyone), or read-only (skipped for root)."""
    if how == "under a file":
        (tmp_path / "file").write_text("")
        return tmp_path / "file" / "cache"
    folder = tmp_path / "read-only"
    (folder / "kernels").mkdir(parents=True)
    (folder / "kernels" / "kernel_old.py").write_text("# a kernel of another version\n")
    for path in (folder / "kernels", folder):
        path.chmod(0o555)
    try:
        (folder / "kernels" / "probe").write_text("")
    except OSError:
        return folder
    pytest.skip("this user can write into read-only folders (root)")


@pytest.mark.parametrize("how", ["under a file", "read-only"])
def test_an_unwritable_cache_warns_once_and_compiles_in_memory(tmp_path, monkeypatch, how):
    monkeypatch.setenv("SDESIM_CACHE_DIR", str(unwritable_folder(tmp_path, how)))
    monkeypatch.setattr(build, "_WARNED", [])
    with pytest.warns(RuntimeWarning, match=r"cannot write the kernel cache in .*compiling kernels in memory"):
        assert build._load_from_cache("kernel_test", "x = 1\n") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build._load_from_cache("kernel_test_2", "x = 2\n") is None   # once per process
    module = build._load_in_memory("def f():\n    return 3\n")
    assert module.f() == 3


def test_a_simulation_with_an_unwritable_cache_gives_the_cached_kernels_numbers(tmp_path, monkeypatch):
    settings = dict(steps=5, paths=2000, seed=3)
    expected = sdesim.simulate(quadratic(1), "sgd", **settings)
    monkeypatch.setenv("SDESIM_CACHE_DIR", str(unwritable_folder(tmp_path, "under a file")))
    monkeypatch.setattr(build, "_WARNED", [])
    monkeypatch.setattr(build, "_LOADED", {})      # a kernel this process has not loaded yet
    with pytest.warns(RuntimeWarning, match="cannot write the kernel cache"):
        got = sdesim.simulate(quadratic(1), "sgd", **settings)
    np.testing.assert_array_equal(got.mean("norm2"), expected.mean("norm2"))
    np.testing.assert_array_equal(got.stderr("x"), expected.stderr("x"))


def test_stale_uncached_kernels_are_cleaned_and_new_ones_leave_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SDESIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "_CLEANED", [])
    folder = tmp_path / "kernels" / "uncached"
    (folder / "__pycache__").mkdir(parents=True)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead, mine, old = (folder / f"kernel_{ended.pid}_0.py", folder / f"kernel_{os.getpid()}_0.py",
                       folder / "kernel_1_7.py")
    for file in (dead, mine, old):
        file.write_text("# an uncached kernel\n")
    (folder / "__pycache__" / f"kernel_{ended.pid}_0.cpython-311.pyc").write_text("")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))

    @numba.njit
    def grad(x, data, out):
        out[:] = x

    @numba.njit
    def sample(x, data, state, pstate, out):
        out[:] = x

    @numba.njit
    def factor(x, data, out):
        out[:, :] = 0.0

    @numba.njit
    def loss(x, data):
        return 0.0

    module = build.kernel_module(ProblemFunctions(sample, grad, factor, loss), "stochastic_step")   # defined, not compiled
    assert callable(module.run_paths)
    assert sorted(p.name for p in folder.rglob("*")) == [mine.name]


# --- 5. a diverging study says so, once, and nothing else ------------------------------------------

def test_a_diverging_study_reports_each_diverged_level_once_and_nothing_else(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # numpy's RuntimeWarnings, matplotlib's, any
        code = main(["converge", "--lr", "5", "--time", "1000", "--paths", "2000", "--l", "1,2,4", "--no-progress",
                     "--plot", str(tmp_path / "weak_error.png")])
    out, err = capsys.readouterr()
    assert code == 3 and err == ""     # inconclusive: every level diverged
    warned = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warned == [f"warning: svag l = {l}: 2000 of 2000 paths diverged (NaN or inf), so no weak error is "
                      "reported for it" for l in (1, 2, 4)]
    assert out.count("diverged: 2000 of 2000 paths") == 6          # a row per level and test function
    assert "standard errors (nan)" not in out and " !" not in out
    assert out.count("INCONCLUSIVE: order 1 inconclusive: paths blew up (NaN or inf) at l = 2, 4") == 2


def test_a_level_that_diverged_is_blank_and_the_others_are_estimated():
    # η = 1.9: SGD (l = 1) multiplies the gap by |1 − 1.9·2| = 2.8 a step and blows up; l = 2, 4 are stable
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        study = weak_error_study(quadratic(2, noise="exponential"), lr=1.9, time=1.9 * 200, tests=("norm4",),
                                 l_values=(1, 2, 4), paths=400, x0=[2.0, 2.0], seed=1)
    rows = {r.l: r for r in study.rows}
    assert rows[1].diverged == 400 and np.isnan(rows[1].error) and np.isnan(rows[1].cv_residual_z)
    assert rows[2].diverged == rows[4].diverged == 0 and np.isfinite([rows[2].error, rows[4].error]).all()
    assert [w for w in study.warnings if "diverged" in w] == [
        "svag l = 1: 400 of 400 paths diverged (NaN or inf), so no weak error is reported for it"]
    assert not any("(nan)" in w for w in study.warnings)


def test_block_statistics_of_huge_values_overflow_quietly():
    stats = BlockStats.empty(4, 1, 1, covariance=True)
    stats.counts[:] = 10
    stats.means[:, 0, 0] = [1e200, -1e200, 3e200, 1.0]
    stats.m2s[:] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts, mean, stderr = stats.summary()
        cov = stats.covariance()
    assert counts[0] == 40 and not np.isfinite(stderr[0, 0]) and not np.isfinite(cov[0, 0, 0])
