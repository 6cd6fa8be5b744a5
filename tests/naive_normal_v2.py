"""Pure-Python reference of stream version 2's normals (`sdesim.rng.normal_v2`), written from its
description: the ziggurat of version 1 (tests/naive.py ``Stream.normal``) with the fast-path
candidate built from the mantissa bits, 52 for float64, 23 for each half of an output for float32."""

import math

import numpy as np

from naive import Stream
from sdesim.rng.normal import _FX, _X, ZIGGURAT_R


def _k(bits, i):
    """The fast path's bound: mantissa j of layer i is accepted iff j < ⌈2^bits x[i+1]/x[i]⌉."""
    return math.ceil(2.0**bits * (_X[i + 1] / _X[i]))


class StreamV2(Stream):
    """One path's stream with version 2's samplers; ``branches`` counts how each draw left."""

    def _slow(self, i, negative, z):
        """The rejected candidate z of layer i: the tail (i = 0), else the wedge; None to start over."""
        if i == 0:
            self.branches["tail"] += 1
            while True:
                a = self.exponential() * (1.0 / ZIGGURAT_R)
                b = self.exponential()
                if b + b > a * a:
                    return -(ZIGGURAT_R + a) if negative else ZIGGURAT_R + a
                self.branches["tail rejected"] += 1
        if _FX[i] + self.uniform() * (_FX[i + 1] - _FX[i]) < math.exp(-0.5 * z * z):
            self.branches["wedge"] += 1
            return z
        self.branches["wedge rejected"] += 1
        return None

    def normal_v2(self):
        """float64: bits 0-7 the layer i, bit 8 the sign, bits 12-63 the mantissa j, z = ±(j·2⁻⁵²)·x[i]."""
        u = self.next_u64()
        while True:
            i, negative, j = u & 0xFF, (u >> 8) & 1, u >> 12
            z = (j * 2.0**-52) * (-_X[i] if negative else _X[i])
            if j < _k(52, i):
                self.branches["fast"] += 1
                return z
            z = self._slow(i, negative, z)
            if z is not None:
                return z
            u = self.next_u64()

    def normal32(self, h):
        """float32 from the 32-bit candidate h: bits 0-7 the layer, bit 8 the sign, bits 9-31 the mantissa j."""
        while True:
            i, negative, j = h & 0xFF, (h >> 8) & 1, h >> 9
            width = -_X[i] if negative else _X[i]
            if j < _k(23, i):
                self.branches["fast"] += 1
                return np.float32(j * 2.0**-23) * np.float32(width)
            z = self._slow(i, negative, j * (width / 2.0**23))
            if z is not None:
                return np.float32(z)
            h = self.next_u64() & 0xFFFFFFFF

    def normal32_pair(self):
        """Two float32 normals: the low half of one output, then its high half."""
        u = self.next_u64()
        first = self.normal32(u & 0xFFFFFFFF)
        return first, self.normal32(u >> 32)

    def normal32_v2(self):
        """float32: the normal held from the last pair if there is one, else the first of a new pair,
        the second then held."""
        held = getattr(self, "held", None)
        if held is not None:
            self.held = None
            return held
        first, self.held = self.normal32_pair()
        return first
