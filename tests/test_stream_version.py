"""The stream version: the kernel built for the version it runs, recorded in the result and the study
records, version 1 by default and for a record without the field, mixed versions never merged, and
bad values refused before any work."""

import json
import sys

import numpy as np
import pytest

from sdesim import Result, simulate
from sdesim.cli import main
from sdesim.estimators.decomposition import decompose
from sdesim.estimators.weak_error import weak_error_study
from sdesim.kernels.stats import BlockStats
from sdesim.problems import quadratic
from sdesim.rerun import recorded_args
from sdesim.rng.lanes import normal_lanes
from sdesim.rng.normal import normal
from sdesim.rng.normal_v2 import normal32_lanes_v2, normal32_v2, normal_lanes_v2, normal_v2
from sdesim.simulate import Run

KW = dict(lr=0.1, l=4, steps=10, paths=2048, seed=11, block_size=512, keep_paths=64)


@pytest.fixture(scope="module")
def runs():
    problem = quadratic(1)
    return {v: simulate(problem, "sde", stream_version=v, return_blocks=True, **KW) for v in (1, 2)}


def test_version_1_is_the_default_bit_for_bit_and_is_recorded(runs):
    default = simulate(quadratic(1), "sde", **KW)
    one, _ = runs[1]
    assert default.stream_version == one.stream_version == 1
    np.testing.assert_array_equal(default.kept_paths, one.kept_paths)
    np.testing.assert_array_equal(default.mean("norm2"), one.mean("norm2"))


def test_version_2_draws_other_bits_of_the_same_law(runs):
    (one, _), (two, blocks) = runs[1], runs[2]
    assert two.stream_version == blocks.stream_version == 2
    assert not np.array_equal(one.kept_paths, two.kept_paths)   # other normals (by a few ulps: the same layers)
    np.testing.assert_allclose(two.mean("norm2"), one.mean("norm2"), rtol=1e-9)


def test_the_kernel_binds_the_versions_samplers():
    problem = quadratic(1)
    for version, dtype, samplers in ((1, "float64", (normal, normal_lanes)), (2, "float64", (normal_v2, normal_lanes_v2)),
                                     (1, "float32", (normal, normal_lanes)),
                                     (2, "float32", (normal32_v2, normal32_lanes_v2))):
        run = Run(problem, "sde", lr=0.1, l=4, steps=10, stream_version=version, dtype=dtype)
        assert (run.module.normal, run.module.normal_lanes) == samplers


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_version_2s_kernels_agree_and_pause_between_the_halves_of_an_output(dtype):
    """Version 2's lane kernels give the one-path kernels' numbers bit for bit, and so does every kernel
    run in slices of 1 and 7 steps: a float32 path paused after an odd number of draws keeps the half of
    its last output that it holds (`sdesim.rng.xoshiro.STATE_WORDS`)."""
    from test_engine import kernels_agree
    from test_interrupts import sliced_equals_unsliced

    run = Run(quadratic(1), "sde", lr=0.1, l=3, steps=7, seed=5, dtype=dtype, stream_version=2,
              checkpoints=[0, 1, 4, 7], keep_paths=40, keep_every=1, block_size=64)
    kernels = ["run_paths_lanes_scalar", "run_paths_lanes", "run_paths_any", "run_paths_scalar"]
    stats = kernels_agree(run, 999, kernels)
    assert stats.counts.sum() > 0
    sliced_equals_unsliced(run, 999, kernels[:3:2])


def test_the_json_records_the_version_and_an_old_record_is_version_1(runs):
    two, _ = runs[2]
    record = json.loads(two.to_json())
    assert record["stream_version"] == 2
    assert Result.from_json(two.to_json()).stream_version == 2
    del record["stream_version"]
    assert Result.from_dict(record).stream_version == 1


def test_statistics_of_two_versions_never_merge(runs):
    (_, ones), (_, twos) = runs[1], runs[2]
    with pytest.raises(ValueError, match=r"cannot merge statistics of stream versions \[1, 2\]"):
        BlockStats.concatenate([ones, twos])
    assert BlockStats.concatenate([twos, twos]).stream_version == 2
    run = Run(quadratic(1), "sde", lr=0.1, l=4, steps=10, stream_version=1)
    with pytest.raises(ValueError, match="stream version 2, this run's is 1"):
        run.result(twos, 2048)


@pytest.mark.parametrize("bad", [0, 3, "2", 2.0, True, None])
def test_bad_versions_are_refused_before_any_work(bad, monkeypatch):
    monkeypatch.setattr(sys.modules["sdesim.simulate"], "kernel_module", lambda *a, **k: pytest.fail("compiled before the check"))
    with pytest.raises(ValueError, match="stream_version must be one of 1, 2"):
        simulate(quadratic(1), "sde", paths=10, stream_version=bad)
    with pytest.raises(ValueError, match="stream_version must be one of 1, 2"):
        weak_error_study(quadratic(1), method="sde", exact=True, stream_version=bad)
    with pytest.raises(ValueError, match="stream_version must be one of 1, 2"):
        decompose(quadratic(1), stream_version=bad)


def test_a_study_records_its_version():
    study = weak_error_study(quadratic(1), method="sde", exact=True, stream_version=2, l_values=(1, 2, 4))
    assert study.to_dict()["stream_version"] == 2
    assert weak_error_study(quadratic(1), method="sde", exact=True, l_values=(1, 2, 4)).to_dict()["stream_version"] == 1


def test_the_cli_takes_and_records_the_version(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["simulate", "--problem", "quadratic", "--dim", "1", "--method", "sde", "--l", "4", "--steps", "10",
                 "--paths", "2048", "--seed", "11", "--stream-version", "2", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["stream_version"] == 2
    capsys.readouterr()
    for argv in (["simulate", "--stream-version", "3"],
                 ["converge", "--exact", "--stream-version", "2", "--plot", "none"]):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        assert code == 2
    err = capsys.readouterr().err
    assert "--stream-version: invalid choice: 3 (choose from 1, 2)" in err
    assert "--stream-version does not apply with --exact" in err


@pytest.mark.parametrize("recorded,expected", [(None, 1), (1, 1), (2, 2)])
def test_rerun_uses_the_records_version(recorded, expected):
    record = {"command": ["sdesim", "converge", "--method", "sde"]}
    if recorded is not None:
        record["stream_version"] = recorded
    assert recorded_args(record, "r.json").stream_version == expected
    record["stream_version"] = 5
    with pytest.raises(ValueError, match="'r.json': stream_version must be one of 1, 2, got 5"):
        recorded_args(record, "r.json")
