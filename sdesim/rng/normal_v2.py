"""Stream version 2's standard normals: version 1's ziggurat with a cheaper fast path.

The 256 layers, the wedges and Marsaglia's tail are those of `sdesim.rng.normal` (exact); what
changes is how one 64-bit xoshiro256++ output u becomes the fast-path candidate.

float64 (`normal_v2`): bits 0-7 of u pick the layer i, bit 8 the sign, bits 12-63 are the
mantissa j (52 bits).  The double with the bits ``j | 0x3FF0…`` is f = 1 + j·2⁻⁵² exactly, so

    z = (f − 1)·(±x[i]) = ±j·x[i]/2⁵²,   accepted when j < K[i] = ⌈2⁵² x[i+1]/x[i]⌉,

with no int → float conversion (`sdesim.rng.bits`).

float32 (`normal32_v2`): each 32-bit half h of u is one candidate: bits 0-7 the layer, bit 8 the
sign, bits 9-31 the mantissa j (23 bits), f = 1 + j·2⁻²³ from the bits ``j | 0x3F800000``,
z = (f − 1)·fl32(±x[i]), accepted when j < ⌈2²³ x[i+1]/x[i]⌉: two normals per output, the low
half's first (its slow draws, if any, come before the high half's).  A draw that finds no normal
held takes a new output, returns its first normal and holds the second in the state's word 4 (its
float32 bits; word 5 says one is held, `sdesim.rng.xoshiro.STATE_WORDS`); the next draw returns the
held one and steps no generator.  So the float32 state is six words.

A candidate the fast path rejects (j ≥ K[i], about 1.5%) goes on exactly as in version 1, in
float64 (a float32 draw rounds the result): layer 0 draws the tail, the other layers test their
wedge against f(z), and a rejected wedge starts over with the next output (its low half for
float32).  The lane samplers (`normal_lanes_v2`, `normal32_lanes_v2`) draw these numbers for many
streams at once as `sdesim.rng.lanes` does: a branch-free loop over the lanes (SIMD), then a loop
finishing the rejected candidates lane by lane, with the slow path inlined there (version 1 calls
it as a compiled function: in a loop compiled by a plain ``numba.njit`` that call, with its
reference counts, doubled the sampler's time; in the path kernels and ``prange`` loops it costs
little, benchmarks/RESULTS.md §21).
"""

import numpy as np

from sdesim._jit import jit, jit_leaf
from sdesim.rng.bits import ONE_BITS32, ONE_BITS64, bits_of_float32, float32_from_low_bits, float64_from_bits
from sdesim.rng.normal import _MASK_LAYER, _MASK_LAYER_SIGN, _X, N_LAYERS, tail_beyond_r, wedge_accepts
from sdesim.rng.xoshiro import _ZERO, load_stream, next_u64, save_stream, xoshiro_step

_SH8 = np.uint64(8)
_SH9 = np.uint64(9)
_SH12 = np.uint64(12)
_SH32 = np.uint64(32)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
_ONE64 = np.uint64(ONE_BITS64)
_ONE32 = np.uint64(ONE_BITS32)
_F32_ONE = np.float32(1.0)
_SPARE, _HELD = 4, 5     # the state's words of the held normal (its float32 bits) and of whether one is held

# float64: accept mantissa j (0 <= j < 2**52) in layer i iff j < K52[i]; zero for the top layer.
K52 = np.array([int(np.ceil(2.0**52 * (_X[i + 1] / _X[i]))) for i in range(N_LAYERS)], dtype=np.int64)
W52 = np.concatenate([_X[:N_LAYERS], -_X[:N_LAYERS]])  # entry (s << 8) | i is ±x[i]
# float32: accept the 23-bit j in layer i iff j < K23[i]; widths rounded to float32 for the fast path
# and ±x[i]/2**23 in float64 for the slow one.
K23 = np.array([int(np.ceil(2.0**23 * (_X[i + 1] / _X[i]))) for i in range(N_LAYERS)], dtype=np.int64)
W23_32 = W52.astype(np.float32)
W23_64 = W52 / 2.0**23


@jit
def ziggurat_v2_from(state, u):
    """The float64 draw of version 2 whose first output is ``u``; later outputs come from ``state``."""
    while True:
        i = np.int64(u & _MASK_LAYER)
        j = u >> _SH12
        z = (float64_from_bits(j | _ONE64) - 1.0) * W52[np.int64(u & _MASK_LAYER_SIGN)]
        if np.int64(j) < K52[i]:
            return z
        if i == 0:
            return tail_beyond_r(state, (u >> _SH8) & _ONE == _ONE)
        if wedge_accepts(state, i, z):
            return z
        u = next_u64(state)


@jit_leaf
def normal_v2(state):
    """Standard normal float64 from the stream ``state``, stream version 2 (see the module)."""
    return ziggurat_v2_from(state, next_u64(state))


@jit
def ziggurat32_from(state, h):
    """The float32 draw whose candidate is the 32-bit ``h`` (in a uint64); later outputs from ``state``."""
    while True:
        i = np.int64(h & _MASK_LAYER)
        k = np.int64(h & _MASK_LAYER_SIGN)
        j = h >> _SH9
        if np.int64(j) < K23[i]:
            return (float32_from_low_bits(j | _ONE32) - _F32_ONE) * W23_32[k]
        if i == 0:
            return np.float32(tail_beyond_r(state, (h >> _SH8) & _ONE == _ONE))
        z = np.float64(np.int64(j)) * W23_64[k]
        if wedge_accepts(state, i, z):
            return np.float32(z)
        h = next_u64(state) & _LOW32


@jit_leaf
def normal32_v2(state):
    """Standard normal float32 from ``state`` (uint64[6]): the normal held from the last output if there is
    one, else the first of the two a new output gives, the second then held (see the module)."""
    if state[_HELD] != _ZERO:
        state[_HELD] = _ZERO
        return float32_from_low_bits(state[_SPARE])
    u = next_u64(state)
    first = ziggurat32_from(state, u & _LOW32)
    state[_SPARE] = bits_of_float32(ziggurat32_from(state, u >> _SH32))
    state[_HELD] = _ONE
    return first


@jit
def normal_lanes_v2(lanes, outputs, scratch, z, row):
    """One version-2 normal per lane into ``z[row, lane]``: what `normal_v2` draws from that lane's stream.

    The arguments are those of `sdesim.rng.lanes.normal_lanes`: ``lanes`` (uint64[4, n] or
    [STATE_WORDS, n]) the streams, advanced in place; ``outputs`` (uint64[n]) and ``scratch`` (four
    words at least) work space.
    """
    n = lanes.shape[1]
    for lane in range(n):
        u, lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane] = xoshiro_step(
            lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane])
        z[row, lane] = (float64_from_bits((u >> _SH12) | _ONE64) - 1.0) * W52[np.int64(u & _MASK_LAYER_SIGN)]
        outputs[lane] = u
    for lane in range(n):
        u = outputs[lane]
        if np.int64(u >> _SH12) >= K52[np.int64(u & _MASK_LAYER)]:
            load_stream(lanes, lane, scratch)
            z[row, lane] = ziggurat_v2_from(scratch, u)
            save_stream(lanes, lane, scratch)


@jit
def normal32_lanes_v2(lanes, outputs, scratch, z, row):
    """One float32 normal per lane into ``z[row, lane]`` (``z`` float32): what `normal32_v2` draws from that
    lane's stream.  ``lanes`` is uint64[6, n]; the lanes hold a normal together or not at all (each lane
    has drawn as many), so lane 0 says which branch all take.  Other arguments as in `normal_lanes_v2`."""
    n = lanes.shape[1]
    if lanes[_HELD, 0] != _ZERO:
        for lane in range(n):
            z[row, lane] = float32_from_low_bits(lanes[_SPARE, lane])
            lanes[_HELD, lane] = _ZERO
        return
    for lane in range(n):
        u, lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane] = xoshiro_step(
            lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane])
        lo = u & _LOW32
        hi = u >> _SH32
        z[row, lane] = (float32_from_low_bits((lo >> _SH9) | _ONE32) - _F32_ONE) * W23_32[np.int64(lo & _MASK_LAYER_SIGN)]
        lanes[_SPARE, lane] = bits_of_float32(
            (float32_from_low_bits((hi >> _SH9) | _ONE32) - _F32_ONE) * W23_32[np.int64(hi & _MASK_LAYER_SIGN)])
        lanes[_HELD, lane] = _ONE
        outputs[lane] = u
    for lane in range(n):
        u = outputs[lane]
        lo = u & _LOW32
        hi = u >> _SH32
        if np.int64(lo >> _SH9) >= K23[np.int64(lo & _MASK_LAYER)] or \
                np.int64(hi >> _SH9) >= K23[np.int64(hi & _MASK_LAYER)]:
            load_stream(lanes, lane, scratch)
            z[row, lane] = ziggurat32_from(scratch, lo)   # the low half's slow draws come first
            lanes[_SPARE, lane] = bits_of_float32(ziggurat32_from(scratch, hi))
            save_stream(lanes, lane, scratch)
