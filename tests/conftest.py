import os

from hypothesis import HealthCheck, settings

# Derandomized: the examples are the same on every run, so statistical property
# tests (which use fixed seeds and 5-standard-error tolerances) never flake.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=12,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
