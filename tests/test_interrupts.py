"""Interrupts within a second, at any size: the kernels return to Python at a bounded wall time (their steps
sliced, bit for bit one call's numbers), and SIGINT and SIGTERM stop `simulate`, `converge`, `decompose` and
`validate` keeping what finished, with exit status 130 or 143."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sdesim.cli import main
from sdesim.kernels.slicing import Slicer
from sdesim.kernels.stats import BlockStats
from sdesim.problems import double_well, linear_regression, quadratic
from sdesim.simulate import Run

ROOT = Path(__file__).resolve().parents[1]
# Seconds from the signal to the process's end: a kernel call aims at 0.4 s (sdesim.kernels.slicing), then
# the finished work is summarized and written and the interpreter exits; on a shared 2-core machine that
# has taken up to about 1.5 s, so 5 s leaves room for load without letting a whole chunk (minutes) through.
EXIT_WITHIN = 5.0
# validate: a claim cut short still finishes its steps without kernels (exact moments, its figure) before the
# runner drops it; measured 5.8 s on the shared machine
VALIDATE_EXIT_WITHIN = 12.0


def sliced_equals_unsliced(run, paths, kernels):
    """Each kernel of ``kernels``, called in slices of 1 and 7 steps, gives the unsliced call's statistics
    and kept paths bit for bit."""
    module = run.module
    try:
        for name in kernels:
            run.module = SimpleNamespace(run_paths=getattr(module, name))
            runs = []
            for slicer in (Slicer(target=1e9), Slicer(steps=1), Slicer(steps=7)):
                run.slicer = slicer
                run.kept[:] = np.nan
                runs.append((run.blocks(0, paths), run.kept.copy()))
            (whole, kept), *sliced = runs
            for stats, kept_sliced in sliced:
                for field in BlockStats.FIELDS:
                    np.testing.assert_array_equal(getattr(stats, field), getattr(whole, field), err_msg=f"{name}: {field}")
                np.testing.assert_array_equal(kept_sliced, kept, err_msg=name)
    finally:
        run.module = module
    return whole


def test_every_kernel_sliced_in_steps_gives_the_unsliced_numbers_bit_for_bit():
    """x, the optimizer state, the random streams, the sampler state, idle lanes and the statistics at
    checkpoints carry over between calls: the runs of tests/test_engine.py (paths blowing up, kept paths,
    odd blocks, blocks ending inside a group of lanes), Adam and a sampler without replacement."""
    # seeds fixed: exact comparisons, on seeds known to blow up some paths and not all
    pair = Run(double_well(1, barrier=1.0), "sgd", lr=0.3, steps=30, seed=0, x0=[1.5], checkpoints=[0, 1, 5, 20],
               keep_paths=5, keep_every=7, covariance=True, block_size=64)
    assert 0 < sliced_equals_unsliced(pair, 999, ["run_paths_scalar", "run_paths_any"]).diverged < 999
    lanes = Run(double_well(1, noise_scale=2.0), "sde", lr=0.3, steps=120, seed=3, checkpoints=[0, 1, 5, 50],
                keep_paths=5, keep_every=7, covariance=True, block_size=40)
    assert 0 < sliced_equals_unsliced(lanes, 999, ["run_paths_lanes_scalar"]).diverged < 999
    dense = Run(quadratic(3, weight_decay=0.1), "sde", scheme="exact", lr=0.3, steps=50, seed=3,
                checkpoints=[0, 1, 5, 50], keep_paths=20, keep_every=3, covariance=True, block_size=40)
    sliced_equals_unsliced(dense, 1001, ["run_paths_lanes"])
    adam = Run(quadratic(3), "adam", lr=0.05, steps=40, seed=7, x0=[0.5, -1.0, 2.0], checkpoints=[0, 3, 17],
               block_size=32)
    sliced_equals_unsliced(adam, 100, ["run_paths_any"])
    sampler = Run(linear_regression(batch_size=4, sampling="without_replacement"), "svag", l=2, lr=0.1, steps=20,
                  seed=5, checkpoints=[0, 9], block_size=32)
    sliced_equals_unsliced(sampler, 100, ["run_paths_any"])


def test_the_slicer_aims_at_its_target_from_the_measured_speed():
    slicer = Slicer(target=0.4)
    assert slicer.next_steps(paths=1000, left=10**9) == (1 << 20) // 1000   # nothing measured yet
    slicer.speed, slicer.last = 1e8, 1000
    assert slicer.next_steps(paths=1000, left=10**9) == 8000                # at most 8 times the last call
    slicer.last = 10**6
    assert slicer.next_steps(paths=1000, left=10**9) == 40_000              # 0.4 s at 1e8 path-steps/s
    assert slicer.next_steps(paths=1000, left=5) == 5
    calls = []
    Slicer(steps=3).run(lambda until, resume: calls.append((until, resume)), 7, 10, lambda paused: paused)
    assert calls == [(3, True), (6, True), (7, True)]    # resume state made once, since the first call pauses
    calls.clear()
    Slicer().run(lambda until, resume: calls.append((until, resume)), 7, 10, lambda paused: paused)
    assert calls == [(7, False)]                         # one call covers every step: no resume state


def sdesim_process(args, cwd):
    return subprocess.Popen([sys.executable, "-c", "import sys; from sdesim.cli import main; sys.exit(main())", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def interrupt(args, sig, cwd, marker, after=1.5):
    """Start ``sdesim args``, wait until ``marker`` shows on stderr (its work started) and ``after`` seconds
    more, send ``sig``; return (exit status, seconds from the signal to the exit, stdout, stderr)."""
    process = sdesim_process(args, cwd)
    seen, deadline = "", time.monotonic() + 120
    while marker not in seen:
        assert time.monotonic() < deadline and process.poll() is None, f"{args} never started: {seen}"
        seen += os.read(process.stderr.fileno(), 4096).decode(errors="replace")
    time.sleep(after)
    assert process.poll() is None, f"{args} finished before the signal"
    sent = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    return process.returncode, time.monotonic() - sent, out, seen + err


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The kernels of the commands below, compiled (or loaded) before the clock runs."""
    folder = tmp_path_factory.mktemp("warm")
    assert main(["simulate", "--paths", "8", "--steps", "2"]) == 0
    assert main(["converge", "--l", "1,2,4", "--paths", "200", "--plot", "none", "--no-progress"]) in (0, 1, 3)
    assert main(["decompose", "--l", "1,2,4", "--paths", "200", "--no-progress"]) in (0, 1, 3)
    return folder


# tiny problems, huge step counts: each starts working at once and would run for minutes
LONG = {
    "simulate": ["simulate", "--paths", "1000", "--steps", "5000000", "--progress", "--json", "out.json"],
    "converge": ["converge", "--l", "1,2,4,1000000", "--paths", "1000", "--progress", "--plot", "none",
                 "--json", "out.json"],
    "decompose": ["decompose", "--l", "1,2,4,1000000", "--paths", "1000", "--progress", "--json", "out.json"],
}


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(LONG))
def test_a_long_command_stops_within_seconds_keeping_what_finished(command, sig, status, compiled, tmp_path):
    code, seconds, out, err = interrupt(LONG[command], sig, tmp_path, "path-step")
    assert code == status, err
    assert seconds < EXIT_WITHIN, f"{command} took {seconds:.1f} s to stop"
    assert f"sdesim {command}: interrupted" in err
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["interrupted"] is True
    if command == "simulate":   # every path reached t = 0; none the end
        assert data["counts"] == [1000, 0]
    else:   # the levels that finished are kept; nothing is judged
        assert {r["l"] for r in data["rows"]} == {1, 2, 4}
        if command == "converge":
            assert data["verdict_kind"] == "inconclusive"
        else:
            assert all(f is None for f in data["fits"].values()) and "NOT JUDGED" in out


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_validate_stops_within_seconds_and_judges_no_claim_it_cut_short(sig, status, tmp_path):
    code, seconds, out, err = interrupt(["validate", "--quick", "--only", "weak_order", "--progress", "--out", "v"],
                                        sig, tmp_path, "claims", after=3.0)
    assert code == status, err
    assert seconds < VALIDATE_EXIT_WITHIN, f"validate took {seconds:.1f} s to stop"
    report = (tmp_path / "v" / "REPORT.md").read_text()
    assert "**Interrupted** (Ctrl-C or SIGTERM): not run to the end, so not judged: weak_order" in report
    assert "**FAIL**" not in report and "nan" not in report
    assert json.loads((tmp_path / "v" / "results.json").read_text()) == []
