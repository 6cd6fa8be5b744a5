"""Seeds of the statistical tests: fixed by default, fresh with ``SDESIM_TEST_SEED=N``.

Every statistical test takes its seeds through `seed`, so that ``SDESIM_TEST_SEED=N pytest``
re-runs the whole suite on new random numbers (and hypothesis on new examples, see
conftest.py).  Tolerances are set from the standard errors so that each assertion fails by
chance with a stated, small probability; docs/guide/testing.md records a run on fresh seeds.
"""

from __future__ import annotations

import os

import numpy as np

FRESH = os.environ.get("SDESIM_TEST_SEED")


def seed(base: int) -> int:
    """``base`` itself, or with SDESIM_TEST_SEED=N a seed derived from (N, base): the same within a run."""
    if FRESH is None:
        return base
    return int(np.random.SeedSequence([int(FRESH), base]).generate_state(1, np.uint64)[0] >> np.uint64(2))
