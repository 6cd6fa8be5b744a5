"""The one home of numba options: every compiled function in sdesim uses ``jit``.

``cache=True`` keeps compiled machine code on disk so a second process starts at
once; ``fastmath`` stays off because reassociated sums would break the
bit-for-bit reproducibility of the statistics.
"""

import numba

jit = numba.njit(cache=True, fastmath=False, nogil=True)
"""Decorator for scalar helpers and problem functions (inlined into kernels)."""

parallel_jit = numba.njit(cache=True, fastmath=False, nogil=True, parallel=True)
"""Decorator for the path kernels, which loop over blocks of paths with ``prange``."""
