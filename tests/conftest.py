import os

import hypothesis.core
from hypothesis import HealthCheck, settings

from seeds import FRESH

CI = dict(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Derandomized: the examples are the same on every run, so statistical property
# tests (which use fixed seeds and 5-standard-error tolerances) never flake.
settings.register_profile("ci", derandomize=True, **CI)
settings.register_profile("dev", deadline=None, max_examples=30)
# SDESIM_TEST_SEED=N (see seeds.py): fresh examples instead, drawn from seed N (what pytest's
# --hypothesis-seed=N does), with no example database, so that a run on seed N repeats exactly;
# the statistical tests inside @given take their own seeds through seeds.seed too.
settings.register_profile("fresh", derandomize=False, database=None, **CI)
if FRESH is None:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
else:
    settings.load_profile("fresh")
    hypothesis.core.global_force_seed = int(FRESH)
