"""Checking a declaration of elementwise functions (``sde(..., elementwise=True)``, ``custom(..., elementwise=True)``).

An elementwise function ``f(x, data, out)`` writes out[j] = φ(x[j]) for every j < len(x), one formula φ for
every coordinate, and runs on x of any length: the lane kernels call it once per step on the flat array of
all the lanes' coordinates, x[j·LANES + lane] = the lane's x_j (`sdesim.kernels.elementwise`).  What the
check can see at x0, bit for bit against the values at x0 itself:

- on LANES copies of x0 in that layout, entry j·LANES + lane must be the value of coordinate j;
- for d > 1, on x0 with its coordinates rotated, entry j must be the value of coordinate (j + 1) mod d.
"""

from __future__ import annotations

import numpy as np

from sdesim._checks import user_call
from sdesim.rng.lanes import LANES

RULE = ("an elementwise function writes out[j] from x[j] alone, with one formula for every j, for x of any "
        "length (loop to x.shape[0]; no per-coordinate data, no sums over coordinates)")


def check_elementwise(role: str, fn, x0: np.ndarray, data, at_x0: np.ndarray, owner: str, signature: str) -> None:
    """Raise a ValueError naming ``role`` of ``owner`` (e.g. "SDE 'gbm'") unless ``fn`` gives ``at_x0``'s
    numbers in the layouts above; ``fn(x, data, out)`` runs on ``out`` filled with NaN, with NaN padding
    after it to catch writes past its end (a failing call is named with ``signature``)."""
    d = x0.shape[0]
    layouts = [(f"{LANES} copies of x0 in the lanes' layout (x[j·{LANES} + lane] = x0[j], length {d * LANES})",
                np.repeat(x0, LANES), np.repeat(at_x0, LANES))]
    if d > 1:
        layouts.append((f"x0 with its coordinates rotated (x = {np.roll(x0, -1).tolist()})",
                        np.roll(x0, -1), np.roll(at_x0, -1)))
    for where, x, expected in layouts:
        buffer = np.full(2 * x.size + 1, np.nan)
        out = buffer[:x.size]
        user_call(f"{role} of {owner}", f"{signature} on {where}", fn, np.ascontiguousarray(x), data, out)
        if not np.all(np.isnan(buffer[x.size:])):
            raise ValueError(f"{role} of {owner} is declared elementwise but wrote past the end of out on {where}; "
                             f"{RULE}, or leave elementwise out")
        wrong = np.flatnonzero(out.view(np.uint64) != expected.view(np.uint64))   # bit for bit (a NaN differs)
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(f"{role} of {owner} is declared elementwise but on {where} it gives out[{i}] = {out[i]} "
                             f"for x[{i}] = {x[i]}, where at x0 the same coordinate value gives {expected[i]}; "
                             f"{RULE}, or leave elementwise out")
