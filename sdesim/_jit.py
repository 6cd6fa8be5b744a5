"""The one home of numba options: every compiled function in sdesim uses one of these.

``cache=True`` keeps compiled machine code on disk so a second process starts at
once; ``fastmath`` stays off because reassociated sums would break the
bit-for-bit reproducibility of the statistics.

Why ``inline="always"``: a compiled call that receives arrays increments and
decrements their reference counts atomically.  Inside a parallel kernel, arrays
shared by all threads (a problem's data) then bounce their reference count between
cores at every step, which made early kernels about 30 times slower than a bare
loop.  Inlined at numba's IR level, the calls disappear and so do the counts.
"""

import numba
import numba.extending

jit = numba.njit(cache=True, fastmath=False, nogil=True, inline="always")
"""Decorator for problem functions and kernel helpers: inlined into the kernels."""

jit_leaf = numba.njit(cache=True, fastmath=False, nogil=True)
"""Decorator for random-number leaves, which touch only the thread-local stream state:
kept as calls, since inlining the whole ziggurat sampler into every kernel measured slower."""

parallel_jit = numba.njit(cache=True, fastmath=False, nogil=True, parallel=True)
"""Decorator for loops over ``prange`` (the benchmarks' bare kernels)."""

kernel_jit = numba.njit(cache=True, fastmath=False, nogil=True)
"""Decorator for the path kernels, which run a range of blocks of paths, one range per thread
(sdesim.kernels.drivers); without the GIL, so that the threads run in parallel."""


def inlined(fn):
    """``fn`` itself if it is already inlined into callers, else a copy of it that is.

    Used for users' own problem functions, so that they run in the kernels at the
    speed of the built-in ones.
    """
    if getattr(fn, "targetoptions", {}).get("inline") == "always":
        return fn
    return numba.njit(fastmath=False, nogil=True, inline="always")(fn.py_func)


@numba.extending.intrinsic
def fma(typingctx, a, b, c):
    """a·b + c rounded once (LLVM's fma), as torch's CPU kernels compute addcmul, lerp and add(alpha=):
    the adaptive steps use it to equal torch.optim bit for bit."""
    if not all(isinstance(t, numba.types.Float) for t in (a, b, c)):
        return None
    sig = numba.types.float64(numba.types.float64, numba.types.float64, numba.types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen
