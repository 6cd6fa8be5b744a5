"""Standard normal variates by the ziggurat method (Marsaglia & Tsang, 2000).

The half-density ``f(x) = exp(-x**2 / 2)`` (unnormalised) is covered by 256
layers of equal area ``v``: a base layer made of the rectangle
``[0, r] x [0, f(r)]`` plus the tail beyond ``r``, and 255 rectangles stacked
above it.  With edges ``x[1] = r > x[2] > ... > x[255] > x[256] = 0`` and the
"virtual" base width ``x[0] = v / f(r)``, layer ``i`` is the rectangle of width
``x[i]`` between heights ``f(x[i])`` and ``f(x[i+1])``; equal areas give the
recursion ``f(x[i+1]) = f(x[i]) + v / x[i]``, and ``r`` is the root that closes
it at ``f(x[256]) = 1`` (``r = 3.6541528853610088`` for 256 layers).

A draw picks a layer ``i`` and ``z = u * x[i]`` with ``u`` uniform on [0, 1).
If ``z < x[i+1]`` the point lies under the curve (the fast path, taken for
98.5% of the draws); otherwise layer 0 falls back to Marsaglia's exact tail
method and the other layers test the wedge between ``f(x[i])`` and
``f(x[i+1])`` against ``f(z)``, starting over on rejection.

The fast path uses one 64-bit xoshiro256++ output: bits 0-7 pick the layer,
bit 8 the sign, bits 11-63 are the 53-bit mantissa ``j``.  The sign is folded
into a 512-entry width table, so the fast path is one draw, two table loads,
an integer comparison and a multiply.

The tables are module-level NumPy arrays computed at import time; the
compiled function reads them as globals, which numba freezes as constants
(this keeps ``cache=True`` valid because they are deterministic).
"""

import math

import numpy as np

from sdesim._jit import jit, jit_leaf
from sdesim.rng.xoshiro import next_u64, uniform

N_LAYERS = 256
ZIGGURAT_R = 3.6541528853610088
"""Right edge of the base rectangle; the tail |z| > R starts here."""


def _build_tables(r=ZIGGURAT_R, n=N_LAYERS):
    """Return (x, fx) of length n + 1 from the equal-area recursion."""
    f = lambda t: math.exp(-0.5 * t * t)  # noqa: E731
    tail = math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    v = r * f(r) + tail  # area of every layer
    x = np.empty(n + 1, dtype=np.float64)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(f(x[i]) + v / x[i]))
    closure = f(x[n - 1]) + v / x[n - 1] - 1.0
    if abs(closure) > 1e-12:  # pragma: no cover - guards a mistyped r
        raise RuntimeError(f"ziggurat tables do not close (residual {closure:g})")
    x[n] = 0.0
    fx = np.exp(-0.5 * x * x)
    fx[0] = 0.0  # bottom of the base layer (unused, kept for clarity)
    return x, fx


_X, _FX = _build_tables()

_TWO53 = 9007199254740992.0  # 2**53

# Fast-path acceptance: mantissa j (0 <= j < 2**53) is accepted in layer i iff
# j < _ZK[i], i.e. j * x[i] / 2**53 < x[i+1].  Zero for the top layer (x[256] = 0).
_ZK = np.array(
    [math.ceil(_TWO53 * (_X[i + 1] / _X[i])) for i in range(N_LAYERS)], dtype=np.int64
)
# Signed widths: entry (s << 8) | i is (+/-) x[i] / 2**53, s = sign bit.
_ZW = np.concatenate([_X[:N_LAYERS] / _TWO53, -_X[:N_LAYERS] / _TWO53])
# f at the layer edges: layer i spans heights [_ZF[i], _ZF[i+1]].
_ZF = _FX.copy()

_MASK_LAYER = np.uint64(0xFF)
_MASK_LAYER_SIGN = np.uint64(0x1FF)
_SH11 = np.uint64(11)
_INV_R = 1.0 / ZIGGURAT_R


@jit
def ziggurat_from(state, u):
    """The ziggurat draw whose first 64-bit output is ``u``; later outputs come from ``state``."""
    while True:
        k = np.int64(u & _MASK_LAYER_SIGN)  # layer index and sign bit
        i = np.int64(u & _MASK_LAYER)  # layer index
        j = np.int64(u >> _SH11)  # 53-bit mantissa
        z = np.float64(j) * _ZW[k]  # signed: +/- u * x[i]
        if j < _ZK[i]:
            return z  # fast path: inside the rectangle, under the curve
        if i == 0:
            return tail_beyond_r(state, z < 0.0)
        if wedge_accepts(state, i, z):
            return z
        u = next_u64(state)


@jit
def tail_beyond_r(state, negative):
    """A draw of the base layer beyond r: Marsaglia's tail method, ±(r + a) with
    a ~ Exp(rate r) accepted when 2 b > a², b ~ Exp(1); exact for the normal tail given |z| > r."""
    while True:
        a = -np.log(1.0 - uniform(state)) * _INV_R
        b = -np.log(1.0 - uniform(state))
        if b + b > a * a:
            break
    if negative:
        return -(ZIGGURAT_R + a)
    return ZIGGURAT_R + a


@jit
def wedge_accepts(state, i, z):
    """The wedge test of layer i ≥ 1: a uniform height between f(x[i]) and f(x[i+1]) lies under f(z)."""
    f_lo = _ZF[i]
    return f_lo + uniform(state) * (_ZF[i + 1] - f_lo) < np.exp(-0.5 * z * z)


@jit_leaf
def normal(state):
    """Standard normal float64 from the stream ``state`` (ziggurat, 256 layers).

    The whole method is compiled into this one function on purpose (`ziggurat_from` is
    inlined at numba's IR level): it calls only ``next_u64`` and ``uniform``, which LLVM
    inlines.  A call to another compiled function that stays a call (a separate slow-path
    function, say) can raise as far as numba knows, and that keeps numba's atomic reference
    counting of ``state`` around every draw, which costs several times the draw itself.  For
    the same reason callers should make the state view once per path and pass that same
    array to every call (``normal(states[t])`` inside the step loop would build, and
    reference-count, a view per draw).
    """
    return ziggurat_from(state, next_u64(state))


@jit_leaf
def normal_continued(state, u):
    """The normal that `normal` returns when its first draw from ``state`` was ``u``.

    For samplers that make the first draw themselves (`sdesim.rng.lanes`, several streams at
    once) and finish the rare draws the fast path rejects here, with the same bits.
    """
    return ziggurat_from(state, u)
