"""Floats built from random bits without an int → float conversion (AVX2 has no packed one).

A double whose exponent field is that of 1.0 and whose 52 mantissa bits are j is exactly
1 + j·2⁻⁵²; a float with the exponent of 1.0 and 23 mantissa bits j is 1 + j·2⁻²³.  Both are
one OR and a reinterpretation of the bits, which vectorizes.
"""

import numba
import numba.extending
from llvmlite import ir

ONE_BITS64 = 0x3FF0000000000000
"""The bits of 1.0 as a double: OR-ed with a 52-bit j, 1 + j·2⁻⁵²."""
ONE_BITS32 = 0x3F800000
"""The bits of 1.0 as a float: OR-ed with a 23-bit j, 1 + j·2⁻²³."""


@numba.extending.intrinsic
def float64_from_bits(typingctx, u):
    """The float64 whose bits are the 64-bit integer ``u``."""
    if not (isinstance(u, numba.types.Integer) and u.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return numba.types.float64(u), codegen


@numba.extending.intrinsic
def float32_from_low_bits(typingctx, u):
    """The float32 whose bits are the low 32 bits of the integer ``u``."""
    if not (isinstance(u, numba.types.Integer) and u.bitwidth in (32, 64)):
        return None

    def codegen(context, builder, signature, args):
        low = args[0] if u.bitwidth == 32 else builder.trunc(args[0], ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return numba.types.float32(u), codegen


@numba.extending.intrinsic
def bits_of_float32(typingctx, x):
    """The bits of the float32 ``x`` as a uint64 (high 32 bits zero): `float32_from_low_bits` undoes it."""
    if not (isinstance(x, numba.types.Float) and x.bitwidth == 32):
        return None

    def codegen(context, builder, signature, args):
        return builder.zext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))

    return numba.types.uint64(x), codegen
