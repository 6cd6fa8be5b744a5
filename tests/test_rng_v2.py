"""Stream version 2's normals (sdesim.rng.normal_v2): bit for bit its pure-Python reference
(tests/naive_normal_v2.py) in every branch, the lane samplers bit for bit the one-stream ones, and
the law: moments, tails, bins and the tail's shape against the standard normal's, within standard
errors (5 of them, or p > 1e-6)."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from naive_normal_v2 import StreamV2
from seeds import seed
from sdesim._jit import jit
from sdesim.rng import seed_path, stream_key
from sdesim.rng.lanes import LANES, store_lane
from sdesim.rng.normal import _X, ZIGGURAT_R
from sdesim.rng.normal_v2 import K23, K52, normal32_lanes_v2, normal32_v2, normal_lanes_v2, normal_v2
from sdesim.rng.xoshiro import STATE_WORDS


@jit
def fill_v2(key, path_index, out):
    state = np.empty(4, np.uint64)
    seed_path(key, path_index, state)
    for i in range(out.size):
        out[i] = normal_v2(state)


@jit
def fill_32(key, path_index, out):
    """out (float32): the draws of `normal32_v2`, one after another."""
    state = np.empty(STATE_WORDS, np.uint64)
    seed_path(key, path_index, state)
    for i in range(out.size):
        out[i] = normal32_v2(state)


@jit
def fill_lanes(key, first_path, z, outputs, float32):
    """Rows of z: draws of the lanes of paths first_path, first_path + 1, ... (float32 with ``float32``);
    outputs: each call's first 64-bit output per lane (for float32, the calls of even rows take one; the
    others return the normal held from it)."""
    lanes = np.empty((STATE_WORDS, z.shape[1]), np.uint64)
    state = np.empty(STATE_WORDS, np.uint64)
    for lane in range(z.shape[1]):
        seed_path(key, first_path + lane, state)
        store_lane(lanes, lane, state)
    for row in range(z.shape[0]):
        if float32:
            normal32_lanes_v2(lanes, outputs[row], state, z, row)
        else:
            normal_lanes_v2(lanes, outputs[row], state, z, row)


def within(value, expected, se, k=5.0):
    return abs(value - expected) <= k * se


@pytest.fixture(scope="module")
def key():
    return stream_key(seed(20261205))


# --- bit for bit -------------------------------------------------------------------------------------


def assert_every_branch(branches, n):
    # per normal: about 0.99 leave by the fast path, 0.008 by a wedge, 0.0003 by the tail
    assert branches["fast"] + branches["wedge"] + branches["tail"] == n
    assert branches["wedge"] > 0.005 * n and branches["wedge rejected"] > 0.004 * n and branches["tail"] > 20
    assert branches["tail rejected"] > 0


def test_normal_v2_matches_the_reference_in_every_branch(key):
    n, branches = 200_000, None
    for path in (0, 7):
        out = np.empty(n)
        fill_v2(key, path, out)
        stream = StreamV2(key, path)
        assert out.tolist() == [stream.normal_v2() for _ in range(n)]
        branches = stream.branches if branches is None else branches + stream.branches
    assert_every_branch(branches, 2 * n)


def test_normal32_matches_the_reference_in_every_branch(key):
    n, branches = 200_000, None
    for path in (0, 7):
        out = np.empty(n, np.float32)
        fill_32(key, path, out)
        assert out.dtype == np.float32
        stream = StreamV2(key, path)
        expected = [stream.normal32_v2() for _ in range(n)]
        np.testing.assert_array_equal(out, np.array(expected, np.float32))
        branches = stream.branches if branches is None else branches + stream.branches
    assert_every_branch(branches, 2 * n)


@pytest.mark.parametrize("float32", [False, True], ids=["float64", "float32"])
@pytest.mark.parametrize("n_lanes", [LANES, 3])
def test_lanes_draw_each_streams_own_normals(key, n_lanes, float32):
    """Many streams at once give every lane exactly the one-stream sampler's draws, in every branch."""
    rows = 40_000
    z = np.empty((rows, n_lanes), np.float32 if float32 else np.float64)
    outputs = np.empty((rows, n_lanes), np.uint64)
    fill_lanes(key, 5, z, outputs, float32)
    for lane in range(n_lanes):
        one = np.empty(rows, z.dtype)
        (fill_32 if float32 else fill_v2)(key, 5 + lane, one)
        np.testing.assert_array_equal(z[:, lane], one)
    # power: the lanes' own first candidates leave the fast path about 1% of the time (wedges, the tail)
    if float32:
        halves = [outputs[::2] & np.uint64(0xFFFFFFFF), outputs[::2] >> np.uint64(32)]
        rejected = sum(((h >> np.uint64(9)).astype(np.int64) >= K23[(h & np.uint64(0xFF)).astype(np.int64)]).sum()
                       for h in halves)
    else:
        rejected = ((outputs >> np.uint64(12)).astype(np.int64) >= K52[(outputs & np.uint64(0xFF)).astype(np.int64)]).sum()
    assert rejected > 0.005 * z.size
    assert np.sum(np.abs(z) > ZIGGURAT_R) > 0


def test_tables():
    assert K52[255] == 0 and np.all(K52[:255] > 0) and np.all(K52 < 2**52)
    assert K23[255] == 0 and np.all(K23[:255] > 0) and np.all(K23 < 2**23)


# --- the law -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["float64", "float32"])
def normals(request, key):
    z = np.empty(4_000_000, np.float64 if request.param == "float64" else np.float32)
    (fill_v2 if request.param == "float64" else fill_32)(key, 3, z)
    return z.astype(np.float64)


def test_moments(normals):
    z, n = normals, normals.size
    assert np.all(np.isfinite(z))
    z2 = z * z   # raw moments E z^k = 0, 1, 0, 3 with Var z^k = 1, 2, 15, 96
    assert within(z.mean(), 0.0, math.sqrt(1 / n))
    assert within(z2.mean(), 1.0, math.sqrt(2 / n))
    assert within((z2 * z).mean(), 0.0, math.sqrt(15 / n))
    assert within((z2 * z2).mean(), 3.0, math.sqrt(96 / n))


def test_ks_and_binned_chi_square(normals):
    assert stats.kstest(normals, "norm").pvalue > 1e-6
    n_bins = 2000   # equiprobable: sensitive to a single layer's density
    edges = stats.norm.ppf(np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    counts = np.bincount(np.searchsorted(edges, normals), minlength=n_bins)
    expected = normals.size / n_bins
    assert ((counts - expected) ** 2 / expected).sum() < stats.chi2.isf(1e-6, n_bins - 1)


def test_tail_shape(normals):
    """Both tails at the normal's rate, and the excess over r of the exact conditional law
    P(|Z| − r > t | |Z| > r) = erfc((r + t)/√2) / erfc(r/√2)."""
    n = normals.size
    p = math.erfc(ZIGGURAT_R / math.sqrt(2.0))
    assert within(np.mean(np.abs(normals) > ZIGGURAT_R), p, math.sqrt(p * (1 - p) / n))
    assert within(np.mean(normals > ZIGGURAT_R), p / 2, math.sqrt(p / 2 * (1 - p / 2) / n))
    excess = np.abs(normals[np.abs(normals) > ZIGGURAT_R]) - ZIGGURAT_R
    assert excess.size > 500

    def cdf(t):
        return 1.0 - special.erfc((ZIGGURAT_R + t) / math.sqrt(2.0)) / math.erfc(ZIGGURAT_R / math.sqrt(2.0))

    assert stats.kstest(excess, cdf).pvalue > 1e-6


@pytest.mark.parametrize("single", [False, True], ids=["float64", "float32"])
def test_layer_bands(key, single):
    """|z| of 2e7 draws (20 streams) binned at the layers' edges and midpoints: the fast path, the wedges and the
    tail of every layer feed different bands, so a fraction of a percent missing from one wedge shows."""
    x = _X[1:256]
    edges = np.sort(np.concatenate([x, 0.5 * (x[:-1] + x[1:]), [0.5 * x[-1]]]))
    counts = np.zeros(edges.size + 1, np.int64)
    chunk = np.empty(1_000_000, np.float32 if single else np.float64)
    for path in range(100, 120):
        (fill_32 if single else fill_v2)(key, path, chunk)
        counts += np.bincount(np.searchsorted(edges, np.abs(chunk).astype(np.float64), side="right"),
                              minlength=edges.size + 1)
    cdf = np.concatenate([[0.0], 2.0 * stats.norm.cdf(edges) - 1.0, [1.0]])
    expected = counts.sum() * np.diff(cdf)
    assert ((counts - expected) ** 2 / expected).sum() < stats.chi2.isf(1e-6, counts.size - 1)


@pytest.mark.parametrize("other", [1, 2**40])
def test_neighbouring_paths_uncorrelated(key, other):
    n = 100_000
    a, b = np.empty(n), np.empty(n)
    fill_v2(key, 0, a)
    fill_v2(key, other, b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(n)


@pytest.fixture(scope="module")
def validation():
    """benchmarks/validate_normal_v2.py, whose 1e10-draw run is in benchmarks/RESULTS.md §21 and §22."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_normal_v2.py"
    spec = importlib.util.spec_from_file_location("validate_normal_v2", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # importable by name, as numba's disk cache reloads it
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("single", [False, True], ids=["float64", "float32"])
def test_moments_and_tail_of_1e8_draws(key, validation, single, capsys):
    """The 1e10-draw check of benchmarks/validate_normal_v2.py at 1e8 draws (about a second): the four raw
    moments and the rates beyond r, 4.5, 5 and 6, each within 5 standard errors."""
    streams, per_stream = 200, 500_000
    out = np.empty((streams, 4 + validation.EDGES.size))
    validation.sums(key, streams, per_stream, single, validation.EDGES, out)
    assert validation.check("normal", streams * per_stream, out.sum(axis=0)), capsys.readouterr().out
