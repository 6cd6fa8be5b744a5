"""Seeds of the statistical tests: fixed by default, fresh with ``SDESIM_TEST_SEED=N`` or ``--sdesim-seed N``.

Every statistical test takes its seeds through `seed` (`sdesim.testing.seeds.seed`, the rule the
pytest plugin of sdesim.testing applies), so that ``SDESIM_TEST_SEED=N pytest`` re-runs the whole
suite on new random numbers (and hypothesis on new examples, see conftest.py and the plugin).
Tolerances are set from the standard errors so that each assertion fails by chance with a stated,
small probability; docs/guide/testing.md records a run on fresh seeds.
"""

from __future__ import annotations

import os

from sdesim.testing.seeds import seed  # noqa: F401  (re-exported: the suite's tests import it from here)

FRESH = os.environ.get("SDESIM_TEST_SEED")
