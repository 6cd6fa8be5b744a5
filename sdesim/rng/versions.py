"""Stream versions: which sampler turns a path's xoshiro256++ stream into the kernels' normals.

- 1: the ziggurat of `sdesim.rng.normal` (53-bit mantissa, int → float conversion); every result
  made before version 2 existed, and every record without a ``stream_version``, is version 1.
- 2: `sdesim.rng.normal_v2`, the same ziggurat with the fast-path candidate built from the
  mantissa bits (other bits, the same law); float32 paths draw two normals from each output
  (`normal32_v2`), float64 paths one.

A result's ``stream_version`` says which one made its numbers; the kernel builder binds the
version's ``normal`` and ``normal_lanes`` (`sampler_bindings`).  The streams, the seeding and the
other samplers (uniform, the problems' own gradient noise) are the same in every version.
"""

import operator

STREAM_VERSIONS = {1: ("sdesim.rng.normal", "normal", "sdesim.rng.lanes", "normal_lanes"),
                   2: ("sdesim.rng.normal_v2", "normal_v2", "sdesim.rng.normal_v2", "normal_lanes_v2")}
FLOAT32_SAMPLERS = {2: ("sdesim.rng.normal_v2", "normal32_v2", "sdesim.rng.normal_v2", "normal32_lanes_v2")}
"""The versions with samplers of their own for float32 paths; the others' float32 normals are their float64 ones, rounded."""
DEFAULT_STREAM_VERSION = 1
"""The default: version 1, so that results and the numbers in the docs stay what they were."""


def stream_version(value) -> int:
    """``value`` as a stream version (an integer in `STREAM_VERSIONS`), else a ValueError naming the allowed ones."""
    allowed = ", ".join(map(str, STREAM_VERSIONS))
    if isinstance(value, bool):
        raise ValueError(f"stream_version must be one of {allowed}, got {value!r}")
    try:
        version = operator.index(value)
    except TypeError:
        raise ValueError(f"stream_version must be one of {allowed}, got {type(value).__name__} {value!r}") from None
    if version not in STREAM_VERSIONS:
        raise ValueError(f"stream_version must be one of {allowed}, got {version}")
    return version


def sampler_bindings(version: int, dtype: str = "float64") -> str:
    """Source lines binding ``normal`` and ``normal_lanes`` to the samplers of stream ``version`` for paths of ``dtype``."""
    version = stream_version(version)
    own32 = dtype == "float32" and version in FLOAT32_SAMPLERS
    normal_module, normal_name, lanes_module, lanes_name = (FLOAT32_SAMPLERS if own32 else STREAM_VERSIONS)[version]
    return (f"from {normal_module} import {normal_name} as normal\n"
            f"from {lanes_module} import {lanes_name} as normal_lanes\n")
