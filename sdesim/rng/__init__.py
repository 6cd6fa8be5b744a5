"""Per-path random streams (xoshiro256++ seeded by SplitMix64 mixing) and the
samplers built on them: uniform, integer, Rademacher, exponential and ziggurat normal."""

from sdesim.rng.normal import normal
from sdesim.rng.xoshiro import (
    exponential,
    next_u64,
    rademacher,
    randint,
    seed_path,
    stream_key,
    uniform,
)

__all__ = [
    "stream_key",
    "seed_path",
    "next_u64",
    "uniform",
    "randint",
    "rademacher",
    "exponential",
    "normal",
]
