"""``copy_arrays(t)``: a copy of a tuple with every array in it copied, for use inside kernels.

Each block of a kernel works on its own copy of the problem's data, so that no two
threads touch the reference counts of the same arrays (see sdesim._jit).
"""

from numba import types
from numba.extending import overload


def copy_arrays(values):
    """Pure-Python meaning: the tuple with each numpy array replaced by a copy."""
    return tuple(v.copy() if hasattr(v, "copy") else v for v in values)


@overload(copy_arrays)
def _copy_arrays(values):
    if not isinstance(values, types.BaseTuple):
        return None
    if len(values) == 0:
        return lambda values: values
    parts = [f"values[{i}].copy()" if isinstance(t, types.Array) else f"values[{i}]"
             for i, t in enumerate(values.types)]
    namespace = {}
    exec(f"def impl(values):\n    return ({', '.join(parts)},)\n", namespace)
    return namespace["impl"]
