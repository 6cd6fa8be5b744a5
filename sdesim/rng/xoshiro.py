"""Per-path random streams: xoshiro256++ seeded through SplitMix64 mixing.

A stream's state is a ``uint64`` array of length 4 (normally a view into a
per-thread scratch array).  Every path of a simulation gets its own stream,
derived deterministically from the run's root key and the path index by
`seed_path`, so results do not depend on how paths are spread over
threads.

Algorithms, written from their published descriptions:

* xoshiro256++ (D. Blackman and S. Vigna, "Scrambled linear pseudorandom
  number generators", ACM TOMS 47(4), 2021): the output is
  ``rotl(s0 + s3, 23) + s0``, followed by the xoshiro linear state update.
* SplitMix64 (G. Steele, D. Lea and C. Flood, "Fast splittable pseudorandom
  number generators", OOPSLA 2014): a Weyl increment ``0x9E3779B97F4A7C15``
  followed by the 64-bit finaliser with multipliers ``0xBF58476D1CE4E5B9`` and
  ``0x94D049BB133111EB`` and shifts 30, 27, 31.

Numba typing note: mixing ``uint64`` with ``int64`` silently promotes to
``float64``, so every constant and every shift count below is an
``np.uint64``.
"""

import operator

import numpy as np

from sdesim._jit import jit, jit_leaf

# --- constants (all np.uint64 so numba keeps the arithmetic in uint64) -------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64 Weyl increment
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SH30 = np.uint64(30)
_SH27 = np.uint64(27)
_SH31 = np.uint64(31)

_SH17 = np.uint64(17)
_ROT23 = np.uint64(23)
_ROT23C = np.uint64(64 - 23)
_ROT45 = np.uint64(45)
_ROT45C = np.uint64(64 - 45)

_SH11 = np.uint64(11)
_SH32 = np.uint64(32)
_SH63 = np.uint64(63)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)

_INV_2_53 = 1.0 / 9007199254740992.0  # 2**-53


# --- seeding ---------------------------------------------------------------


@jit_leaf
def _mix64(z):
    """SplitMix64 finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> _SH30)) * _MIX1
    z = (z ^ (z >> _SH27)) * _MIX2
    return z ^ (z >> _SH31)


STATE_WORDS = 6
"""Words of a path kernel's stream state: xoshiro256++'s four, then two a sampler may hold between draws
(stream version 2's float32 normal keeps the unused half of its last output there, `sdesim.rng.normal_v2`)."""


@jit_leaf
def seed_path(key, path_index, state):
    """Fill ``state`` (uint64[4], or `STATE_WORDS` long) with the stream of path ``path_index`` under ``key``.

    ``key`` is the run's root key (uint64[4], see `stream_key`);
    ``path_index`` an integer >= 0.  Word ``i`` of the state is obtained by a
    SplitMix64 step (add the Weyl increment, apply the finaliser) on the
    previous word xor ``key[i]``, starting from the path index::

        z = path_index
        for i in 0..3:  z = mix64((z ^ key[i]) + GOLDEN);  state[i] = z

    Each step is a bijection of ``z``, so distinct path indices always get
    distinct states (``state[0]`` alone already differs), and every word after
    the first depends on the whole key prefix.  The all-zero state, which
    xoshiro cannot leave, is replaced by a fixed non-zero one (this happens for
    at most one path index per key, with probability about 2**-192).  Words past
    the fourth (a sampler's, see `STATE_WORDS`) are zeroed.
    """
    if path_index < 0:
        raise ValueError("seed_path: path_index must be >= 0")
    z = np.uint64(path_index)
    for i in range(4):
        z = _mix64((z ^ key[i]) + _GOLDEN)
        state[i] = z
    if state[0] == _ZERO and state[1] == _ZERO and state[2] == _ZERO and state[3] == _ZERO:
        state[0] = _GOLDEN
    for i in range(4, state.shape[0]):   # the sampler's words: nothing held
        state[i] = _ZERO


# --- xoshiro256++ --------------------------------------------------------------


@jit
def load_stream(lanes, lane, state):
    """The four xoshiro256++ words of column ``lane`` of ``lanes`` (a lane kernel's streams) into ``state``."""
    for w in range(4):
        state[w] = lanes[w, lane]


@jit
def save_stream(lanes, lane, state):
    """``load_stream`` undone: the four xoshiro256++ words of ``state`` back into column ``lane``."""
    for w in range(4):
        lanes[w, lane] = state[w]


@jit
def xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256++ output from the state words (s0, s1, s2, s3), and the next state:
    ``(output, s0, s1, s2, s3)``."""
    a = s0 + s3
    result = ((a << _ROT23) | (a >> _ROT23C)) + s0
    t = s1 << _SH17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _ROT45) | (s3 >> _ROT45C)
    return result, s0, s1, s2, s3


@jit_leaf
def next_u64(state):
    """Return the next 64-bit output of xoshiro256++ and advance ``state`` in place."""
    result, state[0], state[1], state[2], state[3] = xoshiro_step(state[0], state[1], state[2], state[3])
    return result


@jit_leaf
def uniform(state):
    """Uniform float64 in [0, 1): the top 53 bits of one draw, times 2**-53."""
    return np.float64(np.int64(next_u64(state) >> _SH11)) * _INV_2_53


@jit_leaf
def randint(state, n):
    """Unbiased integer in [0, n) for 1 <= n < 2**32 (Lemire's multiply-and-reject).

    A 32-bit draw ``x`` (top half of one output) gives ``m = x * n``; the high
    32 bits of ``m`` are the result, and the rare draws whose low 32 bits fall
    below ``2**32 mod n`` are rejected, which makes every value exactly equally
    likely.
    """
    if n < 1 or n >= 4294967296:
        raise ValueError("randint: n must satisfy 1 <= n < 2**32")
    return randint_unchecked(state, n)


@jit_leaf
def randint_unchecked(state, n):
    """``randint`` for an n already known to lie in [1, 2**32), as in the samplers' loops.

    It cannot raise, which lets the kernels calling it in every step keep no reference
    counts alive around the call.
    """
    nn = np.uint64(n)
    m = (next_u64(state) >> _SH32) * nn
    low = m & _LOW32
    if low < nn:
        threshold = (_TWO32 - nn) % nn  # == 2**32 mod n
        while low < threshold:
            m = (next_u64(state) >> _SH32) * nn
            low = m & _LOW32
    return np.int64(m >> _SH32)


@jit_leaf
def rademacher(state):
    """Return +1.0 or -1.0 with probability 1/2 each (top bit of one draw)."""
    return 1.0 - 2.0 * np.float64(np.int64(next_u64(state) >> _SH63))


@jit_leaf
def exponential(state):
    """Exp(1) variate by inversion: ``-log(1 - u)`` with u uniform in [0, 1).

    ``1 - u`` is exact (u is a multiple of 2**-53), so this is as accurate as
    ``-log1p(-u)`` and faster (libm's log1p is slow away from 0).
    """
    return -np.log(1.0 - uniform(state))


# --- root key (Python) ---------------------------------------------------------


def stream_key(seed):
    """Return the run's root key: a uint64 array of length 4.

    ``seed`` is an integer >= 0 (Python or NumPy integer, not bool) or a
    `numpy.random.SeedSequence`; the key is
    ``SeedSequence(seed).generate_state(4, dtype=np.uint64)``.
    """
    if isinstance(seed, np.random.SeedSequence):
        seq = seed
    else:
        if isinstance(seed, (bool, np.bool_)):
            raise ValueError(f"seed must be an integer >= 0 or a SeedSequence, got bool {seed!r}")
        try:
            value = operator.index(seed)
        except TypeError:
            raise ValueError(
                f"seed must be an integer >= 0 or a SeedSequence, got {type(seed).__name__} {seed!r}"
            ) from None
        if value < 0:
            raise ValueError(f"seed must be >= 0, got {value}")
        seq = np.random.SeedSequence(value)
    return np.ascontiguousarray(seq.generate_state(4, dtype=np.uint64))
