"""The pytest plugin of sdesim.testing, registered through the ``pytest11`` entry point.

- ``--sdesim-seed N`` (or ``SDESIM_TEST_SEED=N``): every ``seed(base)`` of
  `sdesim.testing.seeds` and the ``sdesim_rng`` fixture draw from (N, base) instead of
  base, and hypothesis draws fresh examples from seed N (not derandomized, no example
  database, as ``--hypothesis-seed=N``), so one run re-checks the statistical tests on new
  random numbers and repeats exactly;
- ``sdesim_rng``: a ``numpy.random.Generator`` per test, seeded from the test's id (fixed
  run to run, fresh under a test seed);
- hypothesis profiles for slow statistical tests, loaded with ``--hypothesis-profile NAME``
  or ``settings.load_profile(NAME)``: ``sdesim-statistical`` (derandomized: the same
  examples every run; no deadline, since numba compiles on the first example; 20 examples;
  shrinking bounded to ``SHRINK_SECONDS``) and ``sdesim-fresh`` (the same, not derandomized).

Hypothesis has no public setting for the time spent shrinking; the bound is its engine's
``MAX_SHRINKING_SECONDS`` (300 s by default), set here while a profile of ours is loaded.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from sdesim.testing import seeds

SHRINK_SECONDS = 60
PROFILES = ("sdesim-statistical", "sdesim-fresh")


def pytest_addoption(parser):
    group = parser.getgroup("sdesim", "sdesim statistical tests")
    group.addoption("--sdesim-seed", action="store", default=None, metavar="N",
                    help=f"re-seed the statistical checks (sdesim.testing.seeds.seed, the sdesim_rng fixture) and "
                         f"hypothesis from N: a fresh run that repeats exactly (default: ${seeds.ENV} or fixed seeds)")


def _register_profiles():
    """Our hypothesis profiles, registered on import: before hypothesis' own plugin loads --hypothesis-profile."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:            # hypothesis is optional: the seeds still work without it
        return
    slow = dict(deadline=None, max_examples=20, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile("sdesim-statistical", derandomize=True, **slow)
    settings.register_profile("sdesim-fresh", derandomize=False, **slow)


_register_profiles()


def _seed_hypothesis(fresh):
    try:
        import hypothesis.core
        from hypothesis import settings
        from hypothesis.internal.conjecture import engine
    except ImportError:
        return
    if fresh is not None:
        current = settings.get_profile(settings.get_current_profile_name())
        settings.register_profile("sdesim-seeded", parent=current, derandomize=False, database=None)
        settings.load_profile("sdesim-seeded")
        hypothesis.core.global_force_seed = fresh
    if settings.get_current_profile_name() in PROFILES:
        engine.MAX_SHRINKING_SECONDS = SHRINK_SECONDS


@pytest.hookimpl(trylast=True)   # after hypothesis' own --hypothesis-profile, so a test seed keeps its settings
def pytest_configure(config):
    option = config.getoption("--sdesim-seed")
    try:
        if option is not None:
            seeds.set_test_seed(seeds.parse_test_seed(option, "--sdesim-seed"))
        fresh = seeds.test_seed()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    _seed_hypothesis(fresh)


def pytest_report_header(config):
    fresh = seeds.test_seed()
    return None if fresh is None else f"sdesim: statistical tests on fresh seeds from test seed {fresh}"


@pytest.fixture
def sdesim_rng(request) -> np.random.Generator:
    """A numpy Generator seeded from this test's id: fixed run to run, fresh under --sdesim-seed."""
    return np.random.default_rng(seeds.seed(zlib.crc32(request.node.nodeid.encode())))
