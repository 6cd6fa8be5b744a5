"""The floating-point type a kernel holds and steps its paths in: ``float64`` (the default) or ``float32``.

A float32 kernel keeps x (and the lanes' xs), the gradients, the noise factor D, the normals z and
the transition (F, c, K) in float32 arrays, and takes its step's scalars (`sdesim.methods.StepParams`)
and the problem's data as float32, so that every operation of the step rounds to float32
(numba, like NumPy, computes float32 ∘ float64 in float64: one float64 operand would promote the step).
The normals are today's stream, each float64 draw rounded to float32.  Statistics are accumulated
in float64 (the observables are converted, exactly, when recorded).

The kernel source (``template.py``) reads the type from the names `kernel_lines` binds: ``FLOAT``
(the buffers' dtype), ``ZERO`` (0 of that type, for sums), ``BITS`` and ``EXPONENT_BITS`` (the
unsigned integer of its width and its exponent mask, to test finiteness in one pass).
"""

from __future__ import annotations

import numpy as np

DTYPES = ("float64", "float32")
DEFAULT_DTYPE = "float64"
# the adaptive steps count steps and fuse torch.optim's operations in float64 (fma, pow, bias-correction tables)
FLOAT64_ONLY_KINDS = {"adaptive_step": "RMSprop/Adam (and their SVAG)",
                      "adaptive_sde_step": "the RMSprop/Adam SDEs"}


def check_dtype(dtype) -> str:
    """``dtype`` as one of ``DTYPES``, or a ValueError naming what is allowed."""
    name = getattr(dtype, "__name__", dtype)   # np.float32 is accepted as well as "float32"
    if isinstance(name, str) and name in DTYPES:
        return name
    raise ValueError(f"dtype must be one of {', '.join(repr(d) for d in DTYPES)} (the type paths are held and "
                     f"stepped in; statistics are float64 either way), got {dtype!r}")


def check_kind(dtype: str, kind: str, method: str) -> None:
    """Refuse, before any work, a float32 run of a step kind that exists in float64 only."""
    if dtype != DEFAULT_DTYPE and kind in FLOAT64_ONLY_KINDS:
        raise ValueError(f"method {method!r} runs in float64 only, not dtype={dtype!r}: {FLOAT64_ONLY_KINDS[kind]} "
                         "keep a step count and torch.optim's fused float64 arithmetic (l = 1 equals torch.optim bit "
                         "for bit), which float32 would not reproduce; use dtype='float64'")


def kernel_lines(dtype: str) -> str:
    """The source lines, put before the template, that bind its floating-point type (see the module docstring)."""
    if dtype == "float32":
        return ("import numpy as np\nFLOAT = np.float32\nZERO = np.float32(0.0)\nBITS = np.uint32\n"
                "EXPONENT_BITS = np.uint32(0x7F800000)\n")
    return ("import numpy as np\nFLOAT = np.float64\nZERO = 0.0\nBITS = np.uint64\n"
            "EXPONENT_BITS = np.uint64(0x7FF0000000000000)\n")


def as_dtype(value, dtype: str):
    """``value`` with its floating-point parts in ``dtype``: float arrays and Python floats (also inside
    tuples and named tuples, such as a problem's data or `StepParams`); integers, booleans and
    integer arrays unchanged.  float64 returns ``value`` itself."""
    if dtype == DEFAULT_DTYPE:
        return value
    kind = np.dtype(dtype).type
    if isinstance(value, np.ndarray):
        return value.astype(kind) if value.dtype.kind == "f" else value
    if isinstance(value, float):   # bool is not a float
        return kind(value)
    if isinstance(value, tuple):
        parts = [as_dtype(v, dtype) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    return value
