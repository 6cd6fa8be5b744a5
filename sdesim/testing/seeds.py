"""Seeds of statistical checks: fixed by default, fresh with ``--sdesim-seed N`` or ``SDESIM_TEST_SEED=N``.

A statistical test takes its seed as ``seed(base)``: ``base`` itself on a normal run, so the
test never flakes, and with a test seed N a seed derived from (N, base), the same within a
run, so that one run on seed N re-checks every test on new random numbers and repeats
exactly.  The pytest plugin (`sdesim.testing.plugin`) sets N from its option; without it
the environment variable is read.
"""

from __future__ import annotations

import os

import numpy as np

ENV = "SDESIM_TEST_SEED"
_option: int | None = None      # set by the pytest plugin from --sdesim-seed


def parse_test_seed(value, where: str) -> int:
    """An integer >= 0 from ``value``, or a ValueError naming ``where`` it came from."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ValueError(f"{where} must be an integer >= 0 (the seed of a fresh run of the statistical tests), "
                         f"got {value!r}")
    return number


def set_test_seed(value: int | None) -> None:
    """Make ``value`` the test seed of this process (None: back to the environment variable)."""
    global _option
    _option = None if value is None else parse_test_seed(value, "the test seed")


def test_seed() -> int | None:
    """The test seed N of this run: --sdesim-seed, else SDESIM_TEST_SEED, else None (fixed seeds)."""
    if _option is not None:
        return _option
    value = os.environ.get(ENV)
    return None if value in (None, "") else parse_test_seed(value, ENV)


def seed(base: int) -> int:
    """``base`` itself, or with a test seed N a seed derived from (N, base): the same within a run."""
    fresh = test_seed()
    if fresh is None:
        return base
    return int(np.random.SeedSequence([fresh, base]).generate_state(1, np.uint64)[0] >> np.uint64(2))


test_seed.__test__ = False      # not a test, though pytest would collect the name from a test module
