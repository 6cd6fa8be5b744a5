"""Normal draws for LANES paths at once, each from its own stream: bit for bit `normal`'s draws.

A kernel that runs LANES paths in lockstep keeps their xoshiro256++ states as one
``uint64`` array of shape (4, LANES), word-major (struct of arrays).  Then one loop over
the lanes advances every stream and computes the ziggurat's fast-path value,

    u = next_u64(lane),   z = j · (±x[i] / 2⁵³)   with i, the sign and j the bits of u,

with no branch in it, so the compiler turns it into SIMD instructions (shifts,
rotations, table gathers, int → float conversion).  A second loop finishes, lane by
lane, the draws the fast path rejects (j ≥ ⌈2⁵³ x[i+1]/x[i]⌉, about 1.5% of them) with
`normal_continued`, which runs the same ziggurat code as `normal` from the same u.  So
every lane draws exactly the numbers `normal` would draw from its stream, in the same
order: a lane kernel gives the one-path kernel's results bit for bit, and the stream
version does not change.
"""

import numpy as np

from sdesim._jit import jit
from sdesim.rng.normal import _MASK_LAYER, _MASK_LAYER_SIGN, _ZK, _ZW, normal_continued
from sdesim.rng.xoshiro import _SH11, load_stream, save_stream, xoshiro_step

LANES = 64
"""Paths per lane group.  A path's step depends on its step before, so a group's step is as long as the
chain of its arithmetic; 64 lanes give the processor enough independent paths to fill that time, where
16 left it waiting: the engine's 1-D OU ran 1.37–1.42x faster in float64 and 1.53–1.59x in float32, a 10-D
quadratic 1.50x (benchmarks/RESULTS.md §22).  A block of fewer than 64 paths still runs 64 lanes, the rest idle."""


@jit
def store_lane(lanes, lane, state):
    """Put the stream ``state`` (uint64[w]) in column ``lane`` of ``lanes`` (uint64[w, LANES]), w = 4 or
    `STATE_WORDS` (`sdesim.rng.xoshiro`)."""
    for w in range(lanes.shape[0]):
        lanes[w, lane] = state[w]


@jit
def normal_lanes(lanes, outputs, scratch, z, row):
    """One standard normal per lane into ``z[row, lane]``: what `normal` draws from that lane's stream.

    ``lanes`` (uint64[4, n]) holds the streams and advances in place; ``outputs`` (uint64[n])
    and ``scratch`` (uint64[4]) are work space.  The first loop is xoshiro256++ and the
    ziggurat's fast path for every lane (see `sdesim.rng.xoshiro.next_u64` and
    `sdesim.rng.normal`); the second finishes the rejected draws one lane at a time.
    """
    n = lanes.shape[1]
    for lane in range(n):
        u, lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane] = xoshiro_step(
            lanes[0, lane], lanes[1, lane], lanes[2, lane], lanes[3, lane])
        z[row, lane] = np.float64(np.int64(u >> _SH11)) * _ZW[np.int64(u & _MASK_LAYER_SIGN)]
        outputs[lane] = u
    for lane in range(n):
        u = outputs[lane]
        if np.int64(u >> _SH11) >= _ZK[np.int64(u & _MASK_LAYER)]:
            load_stream(lanes, lane, scratch)
            z[row, lane] = normal_continued(scratch, u)
            save_stream(lanes, lane, scratch)
